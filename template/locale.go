package template

import (
	"fmt"
	"strings"
)

// maxLocale is the longest locale tag Add accepts.
const maxLocale = 48

// canonLocale returns tag lowercased with "_" read as "-", or an error
// when it is not made of 1-8 letters or digits separated by "-".
func canonLocale(tag string) (string, error) {
	if tag == "" {
		return "", nil
	}
	if len(tag) > maxLocale {
		return "", fmt.Errorf("invalid locale %q: longer than %d bytes", tag, maxLocale)
	}
	c := strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	for sub := range strings.SplitSeq(c, "-") {
		if len(sub) == 0 || len(sub) > 8 || strings.IndexFunc(sub, func(r rune) bool {
			return (r < 'a' || r > 'z') && (r < '0' || r > '9')
		}) >= 0 {
			return "", fmt.Errorf("invalid locale %q: want a BCP 47 tag such as \"pt-BR\", or \"\" for the default", tag)
		}
	}
	return c, nil
}

// parentLocale returns the tag one subtag shorter: "pt-br" -> "pt" -> "".
func parentLocale(l string) string {
	if i := strings.LastIndexByte(l, '-'); i >= 0 {
		return l[:i]
	}
	return ""
}

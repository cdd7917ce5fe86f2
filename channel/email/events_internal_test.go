package email

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTrustedSNSCertURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem": true,
		"https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem":                            true,
		"http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem":                                 false,
		"https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-x.pem":                   false,
		"https://evil.example/sns.us-east-1.amazonaws.com/x.pem":                                             false,
		"https://sns.us-east-1.amazonaws.com/x.txt":                                                          false,
		"https://sns.us-east-1.amazonaws.com:8443/x.pem":                                                     false,
	} {
		u, err := url.Parse(raw)
		assert.NoError(t, err)
		assert.Equal(t, want, trustedSNSCertURL(u), raw)
	}
}

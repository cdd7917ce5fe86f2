//lint:file-ignore SA1019 apns2 builds its client on x/net's http2.Transport, deprecated in newer x/net releases in favour of net/http's; this file only adds root CAs to the transport apns2 made.

package apns

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/sideshow/apns2"
	"golang.org/x/net/http2"
)

// trustRoots makes client trust roots (Config.RootCAs) on the transport
// apns2 built for it.
func trustRoots(client *apns2.Client, roots *x509.CertPool) error {
	tr, ok := client.HTTPClient.Transport.(*http2.Transport)
	if !ok {
		return fmt.Errorf("apns: unexpected apns2 transport %T; set Config.HTTPClient instead of RootCAs", client.HTTPClient.Transport)
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.RootCAs = roots
	return nil
}

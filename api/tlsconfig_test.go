package api_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"os"
	"testing"

	"onestop/api"
)

// TestTLSSettings: the gateway's TLS refuses TLS 1.0 and 1.1, accepts 1.2 and 1.3, verifies
// any client certificate it is given against the terminal CA (a certificate of another CA
// ends the handshake), and lets a certificate-less client through for token terminals.
func TestTLSSettings(t *testing.T) {
	ca := newPKI(t, "terminals")
	certFile, keyFile := ca.issue("gateway", pkix.Name{CommonName: "onestop gateway"}, true)
	cfg, err := api.ServerTLS(certFile, keyFile, ca.ca)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(ca.ca)
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(pem)
	handshake := func(c *tls.Config) error {
		c.RootCAs, c.ServerName = roots, "127.0.0.1"
		conn, err := tls.DialWithDialer(&net.Dialer{}, "tcp", lis.Addr().String(), c)
		if err != nil {
			return err
		}
		defer conn.Close()
		// TLS 1.3 reports a refused client certificate on the first read, not the handshake.
		conn.Write([]byte{0}) //nolint:errcheck
		_, err = conn.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		if err != nil && err.Error() == "EOF" {
			return nil // the server read our byte and closed: the session was up
		}
		return err
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if err := handshake(&tls.Config{MinVersion: v, MaxVersion: v}); err == nil {
			t.Errorf("a %s client was accepted", tls.VersionName(v))
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		if err := handshake(&tls.Config{MinVersion: v, MaxVersion: v}); err != nil {
			t.Errorf("a %s client without a certificate (a token terminal): %v", tls.VersionName(v), err)
		}
	}
	foreign := newPKI(t, "foreign")
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cf, kf := foreign.terminalCert("H00", "M1")
		cert, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		// Go's client would not send a certificate the server's CA list does not name; a
		// hostile client does, so send it regardless.
		force := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		if err := handshake(&tls.Config{MinVersion: v, MaxVersion: v, GetClientCertificate: force}); err == nil {
			t.Errorf("%s: a certificate of another CA was accepted", tls.VersionName(v))
		}
		cf, kf = ca.terminalCert("H00", "M1")
		if cert, err = tls.LoadX509KeyPair(cf, kf); err != nil {
			t.Fatal(err)
		}
		if err := handshake(&tls.Config{MinVersion: v, MaxVersion: v, Certificates: []tls.Certificate{cert}}); err != nil {
			t.Errorf("%s: the terminal CA's certificate: %v", tls.VersionName(v), err)
		}
	}
}

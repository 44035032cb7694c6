package domain

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"time"
)

// ClientCertificate is what hookledger presents to an endpoint that requires
// mutual TLS: a certificate (with its chain) and its private key, PEM
// encoded. The key is a credential: the ledger keeps it (sending needs it
// after a rebuild) and everything outside the ledger shows it redacted.
type ClientCertificate struct {
	CertPEM string `json:"cert_pem"`
	KeyPEM  string `json:"key_pem"`
}

// ClientCertificateInfo is what may be shown of a client certificate.
type ClientCertificateInfo struct {
	Subject     string    `json:"subject"`
	Issuer      string    `json:"issuer"`
	NotAfter    time.Time `json:"not_after"`
	Fingerprint string    `json:"fingerprint_sha256"` // of the leaf certificate (DER)
}

const maxClientCertPEM = 64 << 10

// ValidateClientCertificate checks that the certificate and key parse, belong
// together, and that the certificate is valid at now.
func ValidateClientCertificate(c *ClientCertificate, now time.Time) error {
	if len(c.CertPEM) > maxClientCertPEM || len(c.KeyPEM) > maxClientCertPEM {
		return invalid("client_certificate", "at most %d bytes of PEM each", maxClientCertPEM)
	}
	leaf, err := c.leaf()
	if err != nil {
		return err
	}
	if now.After(leaf.NotAfter) {
		return invalid("client_certificate.cert_pem", "the certificate expired at %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return invalid("client_certificate.cert_pem", "the certificate is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func (c ClientCertificate) leaf() (*x509.Certificate, error) {
	pair, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
	if err != nil {
		return nil, invalid("client_certificate", "a PEM certificate and its PEM private key are required: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, invalid("client_certificate.cert_pem", "%v", err)
	}
	return leaf, nil
}

// Info describes the certificate (zero if it does not parse).
func (c ClientCertificate) Info() ClientCertificateInfo {
	leaf, err := c.leaf()
	if err != nil {
		return ClientCertificateInfo{}
	}
	sum := sha256.Sum256(leaf.Raw)
	return ClientCertificateInfo{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(), NotAfter: leaf.NotAfter.UTC(), Fingerprint: hex.EncodeToString(sum[:])}
}

package esdbtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// What a secure server does, as far as hookledger meets it: TLS with a
// certificate the client must trust (tlsCAFile), HTTP basic credentials on
// every call, and the default ACL of $all: only admins read it. A non-admin
// user can append but never catch up.

// newTLS makes a self-signed certificate for 127.0.0.1 and writes it where
// the client's tlsCAFile can name it.
func newTLS(dir string) (*tls.Config, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "esdbtest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, "", err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, "", err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, "", err
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		return nil, "", err
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, ca, nil
}

// serverOptions are the gRPC options of the emulator's security settings.
func (s *Server) serverOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if s.tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.tlsConfig)))
	}
	return opts
}

// user returns the caller authenticated by HTTP basic credentials, or an
// Unauthenticated error when users are configured and the credentials are
// missing or wrong.
func (s *Server) user(ctx context.Context) (string, error) {
	if len(s.opts.Users) == 0 {
		return "", nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if b, ok := strings.CutPrefix(v, "Basic "); ok {
			raw, err := base64.StdEncoding.DecodeString(b)
			if err != nil {
				break
			}
			u, p, _ := strings.Cut(string(raw), ":")
			if want, ok := s.opts.Users[u]; ok && want == p {
				return u, nil
			}
		}
	}
	return "", status.Error(codes.Unauthenticated, "Bad authentication: invalid or missing credentials")
}

// authorize checks the caller; readAll also requires read access to $all.
func (s *Server) authorize(ctx context.Context, readAll bool) error {
	u, err := s.user(ctx)
	if err != nil || len(s.opts.Users) == 0 || !readAll {
		return err
	}
	readers := s.opts.AllReaders
	if readers == nil {
		readers = []string{"admin"}
	}
	if !slices.Contains(readers, u) {
		return status.Error(codes.PermissionDenied, "Access denied: reading $all requires $admins (or an ACL on $all granting read)")
	}
	return nil
}

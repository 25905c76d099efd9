// Command go-spiffe-probe exercises a SPIFFE Workload API endpoint with the
// go-spiffe v2 library, the way Go workloads use it. Every mode prints one JSON
// object on success and exits non-zero with the error on failure.
//
//	go-spiffe-probe fetch -addr unix:///path -audience aud
//	    X.509 context (SVIDs verified against the bundle), X.509 and JWT bundles,
//	    JWT-SVIDs for every identity, each validated locally and by the endpoint.
//	go-spiffe-probe serve -addr unix:///path -listen 127.0.0.1:0 -peer spiffe://td/client
//	    spiffetls mTLS listener; prints {"listening": addr}, then answers one
//	    connection from the authorized peer and prints what it saw.
//	go-spiffe-probe dial -addr unix:///path -connect host:port -peer spiffe://td/server
//	    spiffetls mTLS client of the listener above.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/jwtsvid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: go-spiffe-probe fetch|serve|dial [flags]"))
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := flags.String("addr", os.Getenv("SPIFFE_ENDPOINT_SOCKET"), "Workload API address")
	audience := flags.String("audience", "lanyard-interop", "JWT audience")
	listen := flags.String("listen", "127.0.0.1:0", "address to listen on (serve)")
	connect := flags.String("connect", "", "address to connect to (dial)")
	peer := flags.String("peer", "", "SPIFFE ID the peer must present (serve, dial)")
	timeout := flags.Duration("timeout", 20*time.Second, "overall timeout")
	_ = flags.Parse(os.Args[2:])

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	clientOptions := workloadapi.WithClientOptions(workloadapi.WithAddr(*addr))

	var result any
	var err error
	switch os.Args[1] {
	case "fetch":
		result, err = fetch(ctx, *addr, *audience)
	case "serve":
		result, err = serve(ctx, clientOptions, *listen, *peer)
	case "dial":
		result, err = dial(ctx, clientOptions, *connect, *peer)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	emit(result)
}

type fetchResult struct {
	DefaultSVID     string   `json:"default_svid"`
	SVIDs           []string `json:"svids"`
	Hints           []string `json:"hints"`
	X509Bundles     []string `json:"x509_bundles"`
	JWTBundles      []string `json:"jwt_bundles"`
	JWTSubjects     []string `json:"jwt_subjects"`
	ValidatedByAPI  string   `json:"validated_by_api"`
	ValidatedLocally string   `json:"validated_locally"`
	ExpiresAt       int64    `json:"default_svid_expires_at"`
}

func fetch(ctx context.Context, addr, audience string) (*fetchResult, error) {
	client, err := workloadapi.New(ctx, workloadapi.WithAddr(addr))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer client.Close()

	x509Context, err := client.FetchX509Context(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch x509 context: %w", err)
	}
	result := &fetchResult{}
	for _, svid := range x509Context.SVIDs {
		if _, _, err := x509svid.Verify(svid.Certificates, x509Context.Bundles); err != nil {
			return nil, fmt.Errorf("svid %s does not verify against its bundle: %w", svid.ID, err)
		}
		result.SVIDs = append(result.SVIDs, svid.ID.String())
		result.Hints = append(result.Hints, svid.Hint)
	}
	defaultSVID := x509Context.DefaultSVID()
	result.DefaultSVID = defaultSVID.ID.String()
	result.ExpiresAt = defaultSVID.Certificates[0].NotAfter.Unix()

	x509Bundles, err := client.FetchX509Bundles(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch x509 bundles: %w", err)
	}
	for _, bundle := range x509Bundles.Bundles() {
		result.X509Bundles = append(result.X509Bundles, bundle.TrustDomain().IDString())
	}
	sort.Strings(result.X509Bundles)

	jwtBundles, err := client.FetchJWTBundles(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch jwt bundles: %w", err)
	}
	for _, bundle := range jwtBundles.Bundles() {
		result.JWTBundles = append(result.JWTBundles, bundle.TrustDomain().IDString())
	}
	sort.Strings(result.JWTBundles)

	svids, err := client.FetchJWTSVIDs(ctx, jwtsvid.Params{Audience: audience})
	if err != nil {
		return nil, fmt.Errorf("fetch jwt-svids: %w", err)
	}
	for _, svid := range svids {
		result.JWTSubjects = append(result.JWTSubjects, svid.ID.String())
	}
	token := svids[0].Marshal()

	validated, err := client.ValidateJWTSVID(ctx, token, audience)
	if err != nil {
		return nil, fmt.Errorf("validate jwt-svid through the workload api: %w", err)
	}
	result.ValidatedByAPI = validated.ID.String()
	local, err := jwtsvid.ParseAndValidate(token, jwtBundles, []string{audience})
	if err != nil {
		return nil, fmt.Errorf("validate jwt-svid locally: %w", err)
	}
	result.ValidatedLocally = local.ID.String()
	if _, err := client.ValidateJWTSVID(ctx, token, "not-"+audience); err == nil {
		return nil, errors.New("the endpoint accepted a jwt-svid for the wrong audience")
	}
	return result, nil
}

type tlsResult struct {
	Listening string `json:"listening,omitempty"`
	Peer      string `json:"peer"`
	Message   string `json:"message"`
	Verified  bool   `json:"peer_chain_verified"`
}

func serve(ctx context.Context, options workloadapi.X509SourceOption, listen, peer string) (*tlsResult, error) {
	peerID, err := spiffeid.FromString(peer)
	if err != nil {
		return nil, err
	}
	listener, err := spiffetls.ListenWithMode(ctx, "tcp", listen,
		spiffetls.MTLSServerWithSourceOptions(tlsconfig.AuthorizeID(peerID), options))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	defer listener.Close()
	emit(map[string]string{"listening": listener.Addr().String()})

	conn, err := listener.Accept()
	if err != nil {
		return nil, fmt.Errorf("accept: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	id, err := spiffetls.PeerIDFromConn(conn)
	if err != nil {
		return nil, fmt.Errorf("peer id: %w", err)
	}
	if _, err := fmt.Fprintf(conn, "hello %s\n", id); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	return &tlsResult{Peer: id.String(), Message: trim(line), Verified: true}, nil
}

func dial(ctx context.Context, options workloadapi.X509SourceOption, connect, peer string) (*tlsResult, error) {
	peerID, err := spiffeid.FromString(peer)
	if err != nil {
		return nil, err
	}
	conn, err := spiffetls.DialWithMode(ctx, "tcp", connect,
		spiffetls.MTLSClientWithSourceOptions(tlsconfig.AuthorizeID(peerID), options))
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	id, err := spiffetls.PeerIDFromConn(conn)
	if err != nil {
		return nil, fmt.Errorf("peer id: %w", err)
	}
	if _, err := fmt.Fprintf(conn, "hello from go-spiffe\n"); err != nil {
		return nil, fmt.Errorf("write: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return &tlsResult{Peer: id.String(), Message: trim(line), Verified: true}, nil
}

func trim(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

func emit(v any) {
	out, err := json.Marshal(v)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "go-spiffe-probe:", err)
	os.Exit(1)
}

package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mcpauthz/mcpauthz/authz/fetch"
)

// CheckURL is the pure pre-network check; refusals carry a Reason that is
// safe to show to whoever supplied the URL.
func ExampleCheckURL() {
	for _, raw := range []string{
		"https://client.example.com/metadata.json",
		"https://0x7f000001/",
		"https://[::ffff:169.254.169.254]/",
		"http://client.example.com/metadata.json",
		"http://127.0.0.1:8080/metadata.json",
	} {
		_, err := fetch.CheckURL(raw, false)
		var fe *fetch.Error
		if errors.As(err, &fe) {
			fmt.Println(raw, "->", fe.Reason)
			continue
		}
		fmt.Println(raw, "-> ok")
	}
	// Output:
	// https://client.example.com/metadata.json -> ok
	// https://0x7f000001/ -> host is a numeric address in a non-canonical form
	// https://[::ffff:169.254.169.254]/ -> address 169.254.169.254 is link-local (RFC 3927)
	// http://client.example.com/metadata.json -> URL scheme must be https
	// http://127.0.0.1:8080/metadata.json -> address 127.0.0.1 is loopback (RFC 1122)
}

func ExampleCheckAddr() {
	for _, s := range []string{"93.184.215.14", "10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::"} {
		fmt.Println(s, "->", fetch.CheckAddr(netip.MustParseAddr(s), false))
	}
	// Output:
	// 93.184.215.14 -> <nil>
	// 10.0.0.1 -> fetch: address 10.0.0.1 is private (RFC 1918)
	// 64:ff9b::a9fe:a9fe -> fetch: address 64:ff9b::a9fe:a9fe embeds 169.254.169.254 via NAT64 (RFC 6052), which is not allowed: fetch: address 169.254.169.254 is link-local (RFC 3927)
	// 2002:a9fe:a9fe:: -> fetch: address 2002:a9fe:a9fe:: embeds 169.254.169.254 via 6to4 (RFC 3056), which is not allowed: fetch: address 169.254.169.254 is link-local (RFC 3927)
}

// A Fetcher for Client ID Metadata Documents. (Not run: it would need the
// network.)
func ExampleFetcher_Get() {
	f := fetch.New(fetch.Config{}) // defaults: 3 s connect, 5 s total, net.DefaultResolver
	resp, err := f.Get(context.Background(), fetch.Request{
		URL:      "https://client.example.com/metadata.json",
		MaxBytes: fetch.MaxBytesClientMetadata,
		Accept:   []string{"application/json"},
	})
	var fe *fetch.Error
	if errors.As(err, &fe) {
		fmt.Println("invalid_client:", fe.Reason) // and log err itself
		return
	}
	if err != nil {
		panic(err) // a malformed Request: a programming error
	}
	fmt.Printf("%s\n", resp.Body)
}

package script

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// ParseLocation reads userLocation from "country=US,region=CA,city=..."
// (the form of the trusted location header and of `worker test
// --location`); "" is no location (undefined in the script).
func ParseLocation(v string) *Location {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	l := &Location{}
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "country", "country_code":
			l.Country = strings.ToUpper(val)
		case "region", "region_code":
			l.Region = val
		case "city":
			l.City = val
		case "continent":
			l.Continent = val
		case "zip", "zipcode":
			l.ZipCode = val
		case "dma":
			l.DMA = val
		case "timezone":
			l.Timezone = val
		case "lat", "latitude":
			l.Latitude = val
		case "long", "longitude":
			l.Longitude = val
		case "network_type", "networktype":
			l.NetworkType = val
		case "bw", "bandwidth":
			l.Bandwidth = val
		}
	}
	return l
}

// ClientSub runs sub-requests over the network with an HTTP client: what
// `edgegate worker test` uses, where there are no gateway routes.
type ClientSub struct {
	Client *http.Client
}

// Do sends sr and reads at most sr.MaxBody bytes of the answer.
func (s *ClientSub) Do(ctx context.Context, sr *SubRequest) (*SubResponse, error) {
	var body io.Reader = http.NoBody
	if len(sr.Body) > 0 {
		body = bytes.NewReader(sr.Body)
	}
	req, err := http.NewRequestWithContext(ctx, sr.Method, sr.URL, body)
	if err != nil {
		return nil, fmt.Errorf("sub-request: %w", err)
	}
	req.Header = sr.Header.Clone()
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sub-request to URL %s: %w", sr.URL, err)
	}
	defer resp.Body.Close()
	limit := sr.MaxBody
	if limit <= 0 {
		limit = 5 << 20
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("sub-request to URL %s: %w", sr.URL, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("sub-request to URL %s: %w", sr.URL, errTooLarge)
	}
	return &SubResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

var errTooLarge = errors.New("response larger than the tier's sub-request size limit")

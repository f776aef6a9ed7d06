package argocd

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
)

// Decoding item by item (issue 9, memory): a list of 10,000 Applications is ~25 MiB of
// JSON; reading it whole and unmarshalling it into a slice held the body, the slice and
// the garbage of both at once (~200 MiB peak RSS). Here the body streams through a
// json.Decoder and each Application is handed to the caller, who keeps only what it
// maps it to, so the peak is one Application plus the decoder's buffer.

// bodyReader reads an answer body, remembers the first read error (a transport failure:
// a cut connection, the request timeout) and enforces the size limit, so that decoding
// errors can be told apart from transport errors afterwards.
type bodyReader struct {
	r   io.Reader
	n   int64 // bytes read
	max int64 // 0: no limit
	err error // first non-EOF error of r, or errTooLarge
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.max > 0 && int64(len(p)) > b.max+1-b.n {
		p = p[:b.max+1-b.n]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.max > 0 && b.n > b.max {
		b.err = errTooLarge
		return n, b.err
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// decodeListStream decodes {"metadata":...,"items":[...]} from r and calls fn for every
// item, in order. It returns the number of items, or a *ResponseError when the answer is
// not an application list (fn may then have seen some items: the caller must discard
// them), or the error fn returned. Read errors of r are the caller's to report (see
// bodyReader): they surface here as a ResponseError wrapping them.
func decodeListStream(r io.Reader, contentType string, fn func(*Application) error) (int, error) {
	dec := json.NewDecoder(r)
	bad := func(reason string, err error) error {
		return &ResponseError{Reason: reason, ContentType: contentType, Err: err}
	}
	malformed := func(err error) error {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
			return bad("malformed JSON", err)
		}
		return bad("not an application list", err)
	}
	tok, err := dec.Token()
	if err != nil {
		mt, _, _ := mime.ParseMediaType(contentType)
		var syn *json.SyntaxError
		if mt != "application/json" && errors.As(err, &syn) {
			return 0, bad("not JSON", err)
		}
		return 0, malformed(err)
	}
	switch tok {
	case nil:
		return 0, bad(`no "items" in the answer`, nil)
	case json.Delim('{'):
	default:
		return 0, bad("not an application list", nil)
	}
	n, sawItems := 0, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return n, malformed(err)
		}
		if key, _ := tok.(string); key != "items" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return n, malformed(err)
			}
			continue
		}
		sawItems = true
		tok, err = dec.Token()
		if err != nil {
			return n, malformed(err)
		}
		switch tok {
		case nil: // "items":null is an empty list (Argo CD writes it for no match)
			continue
		case json.Delim('['):
		default:
			return n, bad("not an application list", nil)
		}
		for dec.More() {
			var a Application
			if err := dec.Decode(&a); err != nil {
				return n, malformed(err)
			}
			n++
			if err := fn(&a); err != nil {
				return n, err
			}
		}
		if _, err := dec.Token(); err != nil { // ']'
			return n, malformed(err)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return n, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the list")
		}
		return n, bad("malformed JSON", err)
	}
	if !sawItems {
		return n, bad(`no "items" in the answer`, nil)
	}
	return n, nil
}

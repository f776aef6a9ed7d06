package argocd

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// decodeList decodes a whole list answer the way Each does.
func decodeList(body []byte, contentType string) ([]Application, error) {
	apps := []Application{}
	_, err := decodeListStream(bytes.NewReader(body), contentType, func(a *Application) error {
		apps = append(apps, *a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return apps, nil
}

// TestDecodeListStreamItemByItem: the decoder hands out items while the body is still
// arriving, so nothing holds the whole answer: with a reader that fails after the first
// item, the first item was already delivered.
func TestDecodeListStreamItemByItem(t *testing.T) {
	body := `{"metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}`
	cut := strings.Index(body, `{"metadata":{"name":"b"`)
	br := &bodyReader{r: &failingReader{data: []byte(body[:cut]), err: fmt.Errorf("connection reset")}}
	var names []string
	_, err := decodeListStream(br, "application/json", func(a *Application) error {
		names = append(names, a.Metadata.Name)
		return nil
	})
	require.Error(t, err)
	require.Equal(t, []string{"a"}, names)
	require.EqualError(t, br.err, "connection reset")

	// The size limit is enforced while reading.
	br = &bodyReader{r: strings.NewReader(body), max: 40}
	_, err = decodeListStream(br, "application/json", func(*Application) error { return nil })
	require.Error(t, err)
	require.ErrorIs(t, br.err, errTooLarge)
}

// failingReader returns data one byte at a time, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	p[0] = f.data[0]
	f.data = f.data[1:]
	return 1, nil
}

func FuzzDecodeListStream(f *testing.F) {
	for _, s := range []string{`{"items":[]}`, `{"items":null}`, `{"metadata":{},"items":[{"metadata":{"name":"a"}}]}`, `[]`, `null`, `{"items":[1]}`, `{"items":[]} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		got, err := decodeListStream(bytes.NewReader(b), "application/json", func(*Application) error { n++; return nil })
		require.Equal(t, n, got)
		if err != nil {
			var re *ResponseError
			require.ErrorAs(t, err, &re)
		}
	})
}

package receipt

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"io"
	"time"

	onestopv1 "onestop/api/onestop/v1"
)

//go:embed receipt.html error.html receipt.css
var files embed.FS

var (
	pages = template.Must(template.ParseFS(files, "receipt.html", "error.html"))
	css   = mustRead("receipt.css")
	// styleHash lets the Content-Security-Policy allow exactly the embedded stylesheet and
	// nothing else, not even another inline style a bug might let through.
	styleHash = "'sha256-" + base64.StdEncoding.EncodeToString(sha256Sum(css)) + "'"
)

func mustRead(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

type page struct {
	*view
	CSS template.CSS
}

// HTML writes the receipt as one self-contained page (no scripts, no external resources)
// that prints on one A5 sheet and reads on a screen, times in loc; lang "en" for English,
// anything else Chinese. Nothing is written if the page cannot be rendered whole.
func HTML(w io.Writer, r *onestopv1.SettleResponse, loc *time.Location, lang string) error {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, "receipt.html", page{view: newView(r, loc, lang), CSS: template.CSS(css)}); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

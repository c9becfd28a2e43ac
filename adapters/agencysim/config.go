package agencysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"onestop/cache"
)

// Config is a simulator's set-up. The zero value is five healthy, instant agencies that
// know no persons.
type Config struct {
	// Agencies holds each agency's faults; an agency not in it has none.
	Agencies map[string]Faults
	// PersonsFile is a snapshot file (JSON Lines, or CSV for a .csv name) the lookup
	// endpoint answers from, for every agency; Persons are added to it.
	PersonsFile string
	Persons     []cache.Line
	// Seed seeds the latency and error draws, one stream per agency.
	Seed uint64
	// Now is the clock of outage windows, flapping and received_at; default time.Now.
	// Windows and flapping count from its reading when New is called.
	Now func() time.Time
}

// Faults are what an agency does wrong.
type Faults struct {
	Latency   Latency  `json:"latency"`
	ErrorRate float64  `json:"error_rate"` // share of requests answered 503, 0 to 1
	Outages   []Window `json:"outages,omitempty"`
	Flap      *Flap    `json:"flap,omitempty"`
	// Down takes the agency down until Control brings it back.
	Down bool `json:"down"`
	// Blackhole makes the agency's down periods (Down, outages, flapping) hang until the
	// client's deadline instead of answering 503: a dropped connection, not a refusal.
	Blackhole bool `json:"blackhole"`
}

// Window is an outage from Start after the simulator's start, for Duration.
type Window struct {
	Start    time.Duration
	Duration time.Duration
}

// Flap is an agency up for Up, then down for Down, repeating from the simulator's start.
type Flap struct {
	Up   time.Duration
	Down time.Duration
}

// Latency is how long an agency takes to answer: Fixed, or log-normal through P50 and P99.
// The zero value answers at once.
type Latency struct {
	Fixed    time.Duration
	P50, P99 time.Duration
}

// z99 is the standard normal's 99th percentile.
const z99 = 2.3263478740408408

func (l Latency) validate() error {
	switch {
	case l.Fixed < 0 || l.P50 < 0 || l.P99 < 0:
		return errors.New("latency: negative")
	case l.Fixed > 0 && (l.P50 > 0 || l.P99 > 0):
		return errors.New("latency: either fixed or p50 and p99, not both")
	case (l.P50 > 0) != (l.P99 > 0):
		return errors.New("latency: p50 and p99 go together")
	case l.P99 < l.P50:
		return errors.New("latency: p99 below p50")
	}
	return nil
}

// draw is one latency. The log-normal's median is P50 and its σ puts P99 at z99 σ above.
func (l Latency) draw(r *rand.Rand) time.Duration {
	if l.P50 <= 0 {
		return l.Fixed
	}
	mu := math.Log(float64(l.P50))
	sigma := (math.Log(float64(l.P99)) - mu) / z99
	return time.Duration(math.Exp(mu + sigma*r.NormFloat64()))
}

func (l Latency) String() string {
	if l.P50 > 0 {
		return fmt.Sprintf("p50 %s p99 %s", l.P50, l.P99)
	}
	return l.Fixed.String()
}

// MarshalJSON writes "50ms" for a fixed latency and {"p50": "20ms", "p99": "200ms"} for a
// distribution, as Control reads them.
func (l Latency) MarshalJSON() ([]byte, error) {
	if l.P50 > 0 {
		return json.Marshal(map[string]string{"p50": l.P50.String(), "p99": l.P99.String()})
	}
	return json.Marshal(l.Fixed.String())
}

func (l *Latency) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		*l = Latency{Fixed: d}
		return l.validate()
	}
	var q struct{ P50, P99 string }
	if err := json.Unmarshal(b, &q); err != nil {
		return errors.New(`latency: a duration ("50ms") or {"p50": "20ms", "p99": "200ms"}`)
	}
	var n Latency
	var err1, err2 error
	n.P50, err1 = time.ParseDuration(q.P50)
	n.P99, err2 = time.ParseDuration(q.P99)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	if err := n.validate(); err != nil {
		return err
	}
	*l = n
	return nil
}

func (w Window) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"start": w.Start.String(), "duration": w.Duration.String()})
}

func (f Flap) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"up": f.Up.String(), "down": f.Down.String()})
}

func (f Faults) validate() error {
	if err := f.Latency.validate(); err != nil {
		return err
	}
	if !(f.ErrorRate >= 0 && f.ErrorRate <= 1) {
		return fmt.Errorf("error rate %v: not between 0 and 1", f.ErrorRate)
	}
	for _, w := range f.Outages {
		if w.Start < 0 || w.Duration <= 0 {
			return fmt.Errorf("outage at %s for %s: the start must not be negative, the duration must be positive", w.Start, w.Duration)
		}
	}
	if f.Flap != nil && (f.Flap.Up <= 0 || f.Flap.Down <= 0) {
		return fmt.Errorf("flap %s/%s: both periods must be positive", f.Flap.Up, f.Flap.Down)
	}
	return nil
}

// downAt tells whether the faults' schedule has the agency down at elapsed since the start.
func (f *Faults) downAt(elapsed time.Duration) bool {
	if f.Down {
		return true
	}
	for _, w := range f.Outages {
		if elapsed >= w.Start && elapsed < w.Start+w.Duration {
			return true
		}
	}
	if f.Flap != nil && elapsed >= 0 {
		return elapsed%(f.Flap.Up+f.Flap.Down) >= f.Flap.Up
	}
	return false
}

// Control changes an agency's faults at run time; a nil field is left as it is.
type Control struct {
	Agency    string   `json:"agency"`
	Down      *bool    `json:"down,omitempty"`
	Blackhole *bool    `json:"blackhole,omitempty"`
	Latency   *Latency `json:"latency,omitempty"`
	ErrorRate *float64 `json:"error_rate,omitempty"`
}

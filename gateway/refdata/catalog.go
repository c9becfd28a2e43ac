package refdata

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"onestop/gateway"
	"onestop/gateway/policy"
)

// Catalog holds the item catalogs of every treatment region.
type Catalog struct {
	items map[catalogKey]gateway.Item
}

type catalogKey struct{ region, code string }

var _ gateway.Catalog = (*Catalog)(nil)

var catalogHeader = []string{"region", "code", "name", "class", "ceiling_unit_price"}

// LoadCatalog reads a catalog CSV with the header region,code,name,class,ceiling_unit_price
// (an empty ceiling means none). Errors name the file and the line.
func LoadCatalog(path string) (*Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(catalogHeader)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !slices.Equal(header, catalogHeader) {
		return nil, fmt.Errorf("%s: the header must be %v", path, catalogHeader)
	}
	c := &Catalog{items: map[catalogKey]gateway.Item{}}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		item := gateway.Item{Region: rec[0], Code: rec[1], Name: rec[2], Class: rec[3]}
		switch {
		case item.Region == "" || item.Code == "":
			return nil, fmt.Errorf("%s:%d: region and code are required", path, line)
		case item.Class != policy.ClassA && item.Class != policy.ClassB && item.Class != policy.ClassC:
			return nil, fmt.Errorf("%s:%d: class %q is not A, B or C", path, line, item.Class)
		}
		if rec[4] != "" {
			d, err := decimal.NewFromString(rec[4])
			if err != nil || d.IsNegative() {
				return nil, fmt.Errorf("%s:%d: ceiling_unit_price %q is not a price", path, line, rec[4])
			}
			item.CeilingUnitPrice = decimal.NewNullDecimal(d)
		}
		k := catalogKey{item.Region, item.Code}
		if _, dup := c.items[k]; dup {
			return nil, fmt.Errorf("%s:%d: item %s of region %s given twice", path, line, item.Code, item.Region)
		}
		c.items[k] = item
	}
	return c, nil
}

func (c *Catalog) Item(region, code string) (gateway.Item, bool) {
	it, ok := c.items[catalogKey{region, code}]
	return it, ok
}

// Len is the number of items over all regions.
func (c *Catalog) Len() int { return len(c.items) }

// Search lists a region's items whose code starts with query, then those whose name
// contains it (case-insensitive), each group in code order, at most limit. A catalog has a
// few thousand items a region: a scan per keystroke costs microseconds, no index needed.
func (c *Catalog) Search(region, query string, limit int) []gateway.Item {
	q := strings.ToLower(strings.TrimSpace(query))
	var byCode, byName []gateway.Item
	for k, it := range c.items {
		if k.region != region {
			continue
		}
		switch {
		case strings.HasPrefix(strings.ToLower(it.Code), q):
			byCode = append(byCode, it)
		case strings.Contains(strings.ToLower(it.Name), q):
			byName = append(byName, it)
		}
	}
	byCodeOrder := func(a, b gateway.Item) int { return strings.Compare(a.Code, b.Code) }
	slices.SortFunc(byCode, byCodeOrder)
	slices.SortFunc(byName, byCodeOrder)
	out := append(byCode, byName...)
	return out[:min(len(out), limit)]
}

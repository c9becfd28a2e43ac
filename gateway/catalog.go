package gateway

import (
	"context"
	"errors"
	"unicode/utf8"
)

// CatalogSearch is the part of a catalog cashiers browse: optional, found on
// Service.Catalog by type assertion (refdata.Catalog has it).
type CatalogSearch interface {
	// Search lists a region's items matching query by code prefix or name, at most limit.
	Search(region, query string, limit int) []Item
}

// SearchLimit bounds one catalog search answer.
const SearchLimit = 100

// SearchItems looks items up in the calling institution's treatment region.
func (s *Service) SearchItems(_ context.Context, caller Caller, institutionID, query string, limit int) ([]Item, error) {
	if err := authorize(caller, institutionID); err != nil {
		return nil, err
	}
	switch {
	case limit < 0 || limit > SearchLimit:
		return nil, invalid(ReasonInvalidArgument, "limit", "must be between 0 and 100")
	case len(query) > 100 || !utf8.ValidString(query):
		return nil, invalid(ReasonInvalidArgument, "query", "must be valid text of at most 100 bytes")
	}
	if limit == 0 {
		limit = 20
	}
	cs, ok := s.Catalog.(CatalogSearch)
	if !ok {
		return nil, Internal(errors.New("the configured catalog cannot be searched"))
	}
	return cs.Search(caller.Institution.Region, query, limit), nil
}

package api

import (
	"context"

	onestopv1 "onestop/api/onestop/v1"
)

func (h *handlers) SearchItems(ctx context.Context, req *onestopv1.SearchItemsRequest) (*onestopv1.SearchItemsResponse, error) {
	items, err := h.svc.SearchItems(ctx, caller(ctx), req.GetInstitutionId(), req.GetQuery(), int(req.GetLimit()))
	if err != nil {
		return nil, err
	}
	resp := &onestopv1.SearchItemsResponse{Items: make([]*onestopv1.CatalogItem, len(items))}
	for i, it := range items {
		resp.Items[i] = &onestopv1.CatalogItem{Code: it.Code, Name: it.Name, Class: it.Class}
		if it.CeilingUnitPrice.Valid {
			resp.Items[i].CeilingUnitPrice = it.CeilingUnitPrice.Decimal.String()
		}
	}
	return resp, nil
}

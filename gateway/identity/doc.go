// Package identity checks who a settlement is for before anything is paid: the form and
// check character of a resident ID number (GB 11643-1999), and e-vouchers, the signed,
// short-lived, single-use QR codes a patient shows instead of a card.
//
// A voucher is accepted once: its nonce is claimed in a NonceStore (Redis in production,
// memory for onestop dev), and a voucher whose nonce cannot be recorded is refused.
package identity

// Package web is the web cashier (收银台) at "/": one HTML page, its stylesheet and its
// script, embedded in the binary so that a village clinic needs nothing but a browser and
// the gateway's HTTP address. The page signs in with a terminal token and talks to the REST
// face of the onestop.v1 services (/v1/…) and to /receipts/… on the same origin; it holds
// no state the gateway does not, beyond the token in sessionStorage.
//
// There is no build step and no third-party code: vanilla ES2020, so the page works
// offline on a clinic's LAN and whoever reviews it reads what the browser runs.
package web

// Package dashboard serves the health bureau's recognition dashboard: one page at "/" and its
// assets under "/ui/", embedded in the binary (plain HTML, CSS and JavaScript; no build step, no
// CDN, charts drawn as inline SVG), so it works on closed hospital networks.
//
// The page is static and holds no data: in the browser it asks for a bureau (or admin) API token,
// keeps it in sessionStorage, and reads GET /api/v1/stats/recognition with it (JSON for what it
// shows, format=csv for downloads). A second tab (ui/publishing.js) reads
// GET /api/v1/stats/publishing: what each institution publishes, its refusals by dead-letter code,
// its unmapped codes and its delays. Labels are in zh-CN by default, with an English toggle.
//
// Mount it with the routes of Routes (or Handler for both patterns) beside the API.
// The end-to-end tests (dashboard_e2e_test.go with e2e/run.mjs, publishing_e2e_test.go with
// e2e/publishing.mjs) drive it in headless Chromium.
package dashboard

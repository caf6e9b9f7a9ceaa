// Package views holds the typed readers the gateway queries: each wraps a
// supervised goka view of a projection table (DESIGN §4 "projections") and
// answers with decoded messages. Views are eventually consistent: a read
// trails the table topic by the view's consume lag.
package views

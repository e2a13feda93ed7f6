// Package config holds mrhub's typed configuration: defaults, environment variables, command-line
// flags (flags win over the environment), and Validate, which reports every problem at once in
// words that say what to fix. It is loaded once in cmd/mrhub and passed down by value.
package config

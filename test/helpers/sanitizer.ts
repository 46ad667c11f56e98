// Whether this test runs under the sanitizer suite (scripts/sanitize.sh: libasan preloaded, the Debug
// addon), where native work is many times slower and time limits say nothing.
export const underSanitizer = (process.env.LD_PRELOAD ?? '').includes('libasan');

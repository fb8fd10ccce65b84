"""The hash-chained audit trail: records, the writer, the middleware that feeds it, verification."""

-- The W3C trace context (`traceparent`) of the API call that queued a message, when the
-- server exports OpenTelemetry traces: every attempt to deliver the message, claimed later or
-- by another node, joins that trace. NULL when traces were off. Expand-only: older binaries
-- never read it.
ALTER TABLE messages ADD COLUMN traceparent TEXT;

"""The HTTP edge: routing, content negotiation, watch streaming, exec; errors become Status here."""

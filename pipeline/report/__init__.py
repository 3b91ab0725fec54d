"""Display only: the report sections, figures, strings and the HTML template."""

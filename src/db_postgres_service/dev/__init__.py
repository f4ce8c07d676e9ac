"""Development-only machinery, which `serve` in production never imports."""

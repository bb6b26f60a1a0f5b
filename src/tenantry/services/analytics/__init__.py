"""analytics: page views per page per day and unique viewers, fed by pages."""

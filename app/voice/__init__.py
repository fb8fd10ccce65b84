"""Voice: the VoiceLive bridge between the browser protocol and the SDK session, per connection."""

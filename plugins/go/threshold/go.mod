module threshold

go 1.24

require millrace.local/millrace v0.0.0

replace millrace.local/millrace => ../../../guest-sdk/go

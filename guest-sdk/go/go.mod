module millrace.local/millrace

go 1.24

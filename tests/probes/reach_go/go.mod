module reach_go

go 1.19

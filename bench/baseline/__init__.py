"""The plain implementation of the seed sketch that `make bench` compares the service to."""

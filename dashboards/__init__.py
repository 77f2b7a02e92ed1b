"""Read-side front ends of kefu-floor: the shift leader's terminal dashboard (`tui`)."""

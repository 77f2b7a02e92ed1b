"""Read-side front ends of kefu-floor, clients of the live feed: the shift leader's terminal
dashboard (`tui`) and the browser wallboard (`static/`, served as `pages.static_pages()`)."""

"""Staff pages: the back office (books, stock, history, users), all under staff_only."""

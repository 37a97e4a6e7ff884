"""Staff pages: the back office (orders, books, stock, history, users), all under staff_only."""

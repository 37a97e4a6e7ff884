"""Starter catalogue data, kept as plain constants so the seed migration can read it without a database."""

STARTER_BOOKS = (
    {
        "isbn": "9780596529321",
        "title": "Programming Collective Intelligence",
        "subtitle": "Building Smart Web 2.0 Applications",
        "author": "Toby Segaran",
        "image": "/static/images/9780596529321.svg",
        "date_released": "August 2007",
        "description": (
            "<p>A hands-on tour of the algorithms behind recommendation engines, "
            "search ranking, clustering and filtering, with every idea worked "
            "through in short, readable <em>Python</em> programs.</p>"
        ),
        "price_cents": 3999,
        "stock": 12,
    },
    {
        "isbn": "9780596529260",
        "title": "RESTful Web Services",
        "subtitle": "",
        "author": "Leonard Richardson, Sam Ruby",
        "image": "/static/images/9780596529260.svg",
        "date_released": "May 2007",
        "description": (
            "<p>Explains how to design web services that work with the grain of "
            "HTTP: addressable resources, a uniform interface and stateless "
            "requests.</p><p>The book that made <strong>resource-oriented "
            "architecture</strong> a household term.</p>"
        ),
        "price_cents": 3999,
        "stock": 9,
    },
    {
        "isbn": "9781449309077",
        "title": "Introduction to Tornado",
        "subtitle": "Modern Web Applications with Python",
        "author": "Michael Dory, Adam Parrish, Brendan Berg",
        "image": "/static/images/9781449309077.svg",
        "date_released": "March 2012",
        "description": (
            "<p>A compact guide to the <em>Tornado</em> web framework, from "
            "templates and forms to asynchronous requests, databases and "
            "deployment, built around small example applications.</p>"
        ),
        "price_cents": 1999,
        "stock": 25,
    },
    {
        "isbn": "9781491946008",
        "title": "Fluent Python",
        "subtitle": "Clear, Concise, and Effective Programming",
        "author": "Luciano Ramalho",
        "image": "/static/images/9781491946008.svg",
        "date_released": "August 2015",
        "description": (
            "<p>A deep look at the features that make Python code feel "
            "<em>Pythonic</em>: the data model, sequences, functions as objects, "
            "generators, descriptors and metaprogramming.</p>"
        ),
        "price_cents": 4999,
        "stock": 14,
    },
    {
        "isbn": "9781449373320",
        "title": "Designing Data-Intensive Applications",
        "subtitle": "The Big Ideas Behind Reliable, Scalable, and Maintainable Systems",
        "author": "Martin Kleppmann",
        "image": "/static/images/9781449373320.svg",
        "date_released": "March 2017",
        "description": (
            "<p>A clear map of the trade-offs behind modern data systems: storage "
            "engines, replication, partitioning, transactions and stream "
            "processing.</p><p><strong>Essential reading</strong> for anyone "
            "building software on top of databases.</p>"
        ),
        "price_cents": 5999,
        "stock": 18,
    },
    {
        "isbn": "9781449355739",
        "title": "Learning Python",
        "subtitle": "Powerful Object-Oriented Programming",
        "author": "Mark Lutz",
        "image": "/static/images/9781449355739.svg",
        "date_released": "June 2013",
        "description": (
            "<p>A thorough, patient introduction to the Python language covering "
            "both 2.7 and 3.3, from basic types and statements to classes, "
            "exceptions and decorators.</p>"
        ),
        "price_cents": 6499,
        "stock": 7,
    },
    {
        "isbn": "9781449381561",
        "title": "MongoDB: The Definitive Guide",
        "subtitle": "",
        "author": "Kristina Chodorow, Michael Dirolf",
        "image": "/static/images/9781449381561.svg",
        "date_released": "September 2010",
        "description": (
            "<p>Written by members of the MongoDB team, this guide covers "
            "document modelling, querying, indexing, aggregation, replication "
            "and sharding for the popular <em>document database</em>.</p>"
        ),
        "price_cents": 3999,
        "stock": 6,
    },
    {
        "isbn": "9781617290855",
        "title": "Redis in Action",
        "subtitle": "",
        "author": "Josiah L. Carlson",
        "image": "/static/images/9781617290855.svg",
        "date_released": "June 2013",
        "description": (
            "<p>Shows how to solve real problems with Redis data structures, "
            "from caching and counters to queues, locks and search, with "
            "practical examples in Python.</p>"
        ),
        "price_cents": 4499,
        "stock": 5,
    },
    {
        "isbn": "9781449344764",
        "title": "High Performance Browser Networking",
        "subtitle": "",
        "author": "Ilya Grigorik",
        "image": "/static/images/9781449344764.svg",
        "date_released": "September 2013",
        "description": (
            "<p>Everything a web developer should know about what happens on the "
            "wire: TCP, TLS, HTTP/2, WebSocket and WebRTC, and how each one "
            "affects the speed of a page.</p>"
        ),
        "price_cents": 3499,
        "stock": 10,
    },
    {
        "isbn": "9780201616224",
        "title": "The Pragmatic Programmer",
        "subtitle": "From Journeyman to Master",
        "author": "Andrew Hunt, David Thomas",
        "image": "/static/images/9780201616224.svg",
        "date_released": "October 1999",
        "description": (
            "<p>A collection of short, practical lessons on the craft of "
            "software development, from <em>don't repeat yourself</em> to "
            "tracer bullets and broken windows.</p>"
        ),
        "price_cents": 4999,
        "stock": 11,
    },
    {
        "isbn": "9780262510875",
        "title": "Structure and Interpretation of Computer Programs",
        "subtitle": "",
        "author": "Harold Abelson, Gerald Jay Sussman, Julie Sussman",
        "image": "/static/images/9780262510875.svg",
        "date_released": "July 1996",
        "description": (
            "<p>The classic MIT text that teaches programming as a way of "
            "thinking, building from procedures and data abstraction to "
            "interpreters and register machines in <em>Scheme</em>.</p>"
        ),
        "price_cents": 5500,
        "stock": 4,
    },
    {
        "isbn": "9781449340377",
        "title": "Python Cookbook",
        "subtitle": "Recipes for Mastering Python 3",
        "author": "David Beazley, Brian K. Jones",
        "image": "/static/images/9781449340377.svg",
        "date_released": "May 2013",
        "description": (
            "<p>Hundreds of focused recipes for modern Python 3, covering data "
            "structures, text, iterators, metaprogramming, concurrency and "
            "more, each with a discussion of why it works.</p>"
        ),
        "price_cents": 4999,
        "stock": 15,
    },
)

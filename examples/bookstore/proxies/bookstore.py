"""The bookstore proxy: a small SQLite database of a bookstore (authors, books, two years of monthly
sales), exposed as read-only endpoints.

Agents never see the database or SQL: they call endpoints with CALL_API("bookstore/<endpoint>", params)
from run_python, and the parent process answers from its own in-memory copy. To look at the data
yourself, `python proxies/bookstore.py bookstore.db` writes it to a file."""
from __future__ import annotations

import sqlite3
import sys
import threading
from typing import Any, Dict, List, Optional

from lllm.proxies import BaseProxy, ProxyRegistrator

AUTHORS = [
    # id, name, country, born
    (1, "Jane Austen", "United Kingdom", 1775),
    (2, "Fyodor Dostoevsky", "Russia", 1821),
    (3, "Mary Shelley", "United Kingdom", 1797),
    (4, "Herman Melville", "United States", 1819),
    (5, "Leo Tolstoy", "Russia", 1828),
    (6, "Jules Verne", "France", 1828),
    (7, "Arthur Conan Doyle", "United Kingdom", 1859),
    (8, "Mark Twain", "United States", 1835),
    (9, "Victor Hugo", "France", 1802),
    (10, "H. G. Wells", "United Kingdom", 1866),
]

BOOKS = [
    # id, title, author_id, genre, year, price, stock, rating
    (1, "Pride and Prejudice", 1, "romance", 1813, 9.99, 42, 4.6),
    (2, "Emma", 1, "romance", 1815, 8.99, 7, 4.2),
    (3, "Persuasion", 1, "romance", 1817, 8.49, 3, 4.4),
    (4, "Crime and Punishment", 2, "literary", 1866, 12.50, 18, 4.7),
    (5, "The Brothers Karamazov", 2, "literary", 1880, 14.00, 4, 4.8),
    (6, "Notes from Underground", 2, "literary", 1864, 7.50, 11, 4.1),
    (7, "Frankenstein", 3, "horror", 1818, 8.99, 25, 4.3),
    (8, "Moby-Dick", 4, "adventure", 1851, 13.25, 6, 3.9),
    (9, "Bartleby, the Scrivener", 4, "literary", 1853, 5.99, 14, 4.0),
    (10, "War and Peace", 5, "historical", 1869, 18.99, 9, 4.5),
    (11, "Anna Karenina", 5, "romance", 1878, 15.50, 12, 4.6),
    (12, "Twenty Thousand Leagues Under the Seas", 6, "science fiction", 1870, 10.99, 20, 4.2),
    (13, "Around the World in Eighty Days", 6, "adventure", 1872, 9.49, 2, 4.3),
    (14, "Journey to the Center of the Earth", 6, "science fiction", 1864, 9.99, 16, 4.0),
    (15, "A Study in Scarlet", 7, "mystery", 1887, 7.99, 30, 4.1),
    (16, "The Hound of the Baskervilles", 7, "mystery", 1902, 8.99, 1, 4.6),
    (17, "The Sign of the Four", 7, "mystery", 1890, 7.99, 8, 4.0),
    (18, "Adventures of Huckleberry Finn", 8, "adventure", 1884, 9.99, 21, 4.2),
    (19, "The Adventures of Tom Sawyer", 8, "adventure", 1876, 8.49, 5, 4.1),
    (20, "Les Misérables", 9, "historical", 1862, 19.99, 10, 4.8),
    (21, "The Hunchback of Notre-Dame", 9, "historical", 1831, 12.99, 4, 4.3),
    (22, "The Time Machine", 10, "science fiction", 1895, 6.99, 27, 4.2),
    (23, "The War of the Worlds", 10, "science fiction", 1898, 7.49, 19, 4.3),
    (24, "The Invisible Man", 10, "science fiction", 1897, 7.49, 0, 3.9),
]

SCHEMA = """
CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL, born INTEGER);
CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER NOT NULL REFERENCES authors(id),
                    genre TEXT NOT NULL, year INTEGER, price REAL NOT NULL, stock INTEGER NOT NULL, rating REAL);
CREATE TABLE sales (book_id INTEGER NOT NULL REFERENCES books(id), month TEXT NOT NULL, units INTEGER NOT NULL,
                    PRIMARY KEY (book_id, month));
"""


def monthly_units(book_id: int, year: int, month: int) -> int:
    """Deterministic, plausible monthly sales: popular books sell more, December sells most."""
    base = 3 + (book_id * 7) % 11
    season = {12: 2.0, 11: 1.4, 7: 1.2, 8: 1.2, 1: 0.8, 2: 0.7}.get(month, 1.0)
    trend = 1.0 + 0.1 * (year - 2023)
    wobble = (book_id * 13 + month * 5 + year) % 4
    return int(base * season * trend) + wobble


def build_database(path: str = ":memory:") -> sqlite3.Connection:
    """A connection to a fresh bookstore database (authors, books, and sales for 2023–2024)."""
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.executescript(SCHEMA)
    conn.executemany("INSERT INTO authors VALUES (?, ?, ?, ?)", AUTHORS)
    conn.executemany("INSERT INTO books VALUES (?, ?, ?, ?, ?, ?, ?, ?)", BOOKS)
    conn.executemany("INSERT INTO sales VALUES (?, ?, ?)",
                     [(b[0], f"{y}-{m:02d}", monthly_units(b[0], y, m))
                      for b in BOOKS for y in (2023, 2024) for m in range(1, 13)])
    conn.commit()
    conn.row_factory = sqlite3.Row
    return conn


_BOOK_COLUMNS = ("b.id, b.title, a.name AS author, b.genre, b.year, b.price, b.stock, b.rating")
_BOOK_EXAMPLE = {"id": 16, "title": "The Hound of the Baskervilles", "author": "Arthur Conan Doyle",
                 "genre": "mystery", "year": 1902, "price": 8.99, "stock": 1, "rating": 4.6}


@ProxyRegistrator(path="bookstore", name="Bookstore",
                  description="Catalogue, stock and monthly sales (2023-2024) of a small bookstore of classics.")
class BookstoreProxy(BaseProxy):
    """Read-only access to the bookstore database."""

    additional_docs = {
        "Data model": "Books have a genre (romance, literary, horror, adventure, historical, science fiction, "
                      "mystery), a price in USD, the number of copies in stock and an average reader rating "
                      "(1-5). Sales are units sold per book per month, from 2023-01 to 2024-12; revenue is "
                      "units x the current price.",
    }

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self._db = build_database()
        self._lock = threading.Lock()  # CALL_API may arrive from different threads

    def _rows(self, sql: str, args: tuple = ()) -> List[Dict[str, Any]]:
        with self._lock:
            return [dict(row) for row in self._db.execute(sql, args)]

    @BaseProxy.endpoint(
        category="Catalogue", endpoint="books/search",
        description="Find books by words in the title or author name, genre, maximum price or availability.",
        params={"q": (str, "time"), "genre": (str, "science fiction"), "max_price": (float, 10.0),
                "in_stock": (bool, True), "limit": (int, 10)},
        response={"count": 1, "books": [_BOOK_EXAMPLE]},
    )
    def search_books(self, q: Optional[str] = None, genre: Optional[str] = None, max_price: Optional[float] = None,
                     in_stock: bool = False, limit: int = 10) -> Dict[str, Any]:
        """All filters are optional and combine with AND. `q` matches case-insensitively inside the title or
        the author's name. Results are ordered by rating (best first); `limit` is at most 50."""
        where, args = [], []
        if q:
            where.append("(lower(b.title) LIKE ? OR lower(a.name) LIKE ?)")
            args += [f"%{q.lower()}%"] * 2
        if genre:
            where.append("b.genre = ?")
            args.append(genre.lower())
        if max_price is not None:
            where.append("b.price <= ?")
            args.append(float(max_price))
        if in_stock:
            where.append("b.stock > 0")
        sql = (f"SELECT {_BOOK_COLUMNS} FROM books b JOIN authors a ON a.id = b.author_id "
               f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY b.rating DESC, b.title LIMIT ?")
        books = self._rows(sql, (*args, max(1, min(int(limit), 50))))
        return {"count": len(books), "books": books}

    @BaseProxy.endpoint(
        category="Catalogue", endpoint="books/get",
        description="One book with its author and its total units sold.",
        params={"book_id*": (int, 16)},
        response={**_BOOK_EXAMPLE, "author_country": "United Kingdom", "units_sold": 190},
    )
    def get_book(self, book_id: int) -> Dict[str, Any]:
        rows = self._rows(f"SELECT {_BOOK_COLUMNS}, a.country AS author_country, "
                          f"(SELECT COALESCE(SUM(units), 0) FROM sales s WHERE s.book_id = b.id) AS units_sold "
                          f"FROM books b JOIN authors a ON a.id = b.author_id WHERE b.id = ?", (int(book_id),))
        if not rows:
            raise KeyError(f"no book with id {book_id}")
        return rows[0]

    @BaseProxy.endpoint(
        category="Catalogue", endpoint="authors/list",
        description="Authors with how many of their books the store carries, optionally for one country.",
        params={"country": (str, "France")},
        response={"authors": [{"id": 6, "name": "Jules Verne", "country": "France", "born": 1828, "books": 3}]},
    )
    def list_authors(self, country: Optional[str] = None) -> Dict[str, Any]:
        sql = ("SELECT a.id, a.name, a.country, a.born, COUNT(b.id) AS books FROM authors a "
               "LEFT JOIN books b ON b.author_id = a.id " + ("WHERE lower(a.country) = ? " if country else "") +
               "GROUP BY a.id ORDER BY a.name")
        return {"authors": self._rows(sql, (country.lower(),) if country else ())}

    @BaseProxy.endpoint(
        category="Sales", endpoint="sales/monthly",
        description="Units sold and revenue per month of one year, for the whole store, one genre or one book.",
        params={"year*": (int, 2024), "genre": (str, "mystery"), "book_id": (int, 16)},
        response={"year": 2024, "genre": "mystery", "book_id": None,
                  "months": [{"month": "2024-01", "units": 21, "revenue": 171.79}]},
    )
    def monthly_sales(self, year: int, genre: Optional[str] = None, book_id: Optional[int] = None) -> Dict[str, Any]:
        """`year` is 2023 or 2024. Revenue uses the current price and is rounded to cents."""
        where, args = ["s.month LIKE ?"], [f"{int(year)}-%"]
        if genre:
            where.append("b.genre = ?")
            args.append(genre.lower())
        if book_id is not None:
            where.append("b.id = ?")
            args.append(int(book_id))
        months = self._rows("SELECT s.month, SUM(s.units) AS units, ROUND(SUM(s.units * b.price), 2) AS revenue "
                             "FROM sales s JOIN books b ON b.id = s.book_id WHERE " + " AND ".join(where) +
                             " GROUP BY s.month ORDER BY s.month", tuple(args))
        return {"year": int(year), "genre": genre, "book_id": book_id, "months": months}

    @BaseProxy.endpoint(
        category="Inventory", endpoint="inventory/low_stock",
        description="Books with at most `threshold` copies in stock (default 5), fewest first.",
        params={"threshold": (int, 5)},
        response={"threshold": 5, "books": [_BOOK_EXAMPLE]},
    )
    def low_stock(self, threshold: int = 5) -> Dict[str, Any]:
        books = self._rows(f"SELECT {_BOOK_COLUMNS} FROM books b JOIN authors a ON a.id = b.author_id "
                           f"WHERE b.stock <= ? ORDER BY b.stock, b.title", (int(threshold),))
        return {"threshold": int(threshold), "books": books}


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "bookstore.db"
    build_database(target).close()
    print(f"wrote {target}")

// sqlite.h: a thin RAII wrapper over the SQLite C API (connection, prepared statement) that throws typed errors.
#pragma once
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reasonrl::store {

// One prepared statement. bind() is 1-based like SQLite; column() is 0-based. step() returns true while rows come.
class Stmt {
 public:
  Stmt() = default;
  Stmt(sqlite3* db, std::string_view sql);
  Stmt(Stmt&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, std::optional<double> v);
  Stmt& bind_null(int i);
  Stmt& bind_blob(int i, std::string_view bytes);  // a BLOB (bytes kept exactly; TEXT is meant to be UTF-8)

  bool step();          // true: a row is ready; false: done. Throws on error.
  void run();           // step() until done (for writes); then reset().
  void reset();         // reset and clear bindings, ready to be reused

  int columns() const;
  std::string column_name(int i) const;
  int column_type(int i) const;  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
  bool is_null(int i) const { return column_type(i) == SQLITE_NULL; }
  int64_t i64(int i) const;
  double f64(int i) const;
  std::optional<double> opt_f64(int i) const;
  std::string text(int i) const;
  std::string blob(int i) const;  // the column's bytes (a TEXT or BLOB value as stored)
  bool readonly() const;  // sqlite3_stmt_readonly: the statement does not write the database
  sqlite3_stmt* raw() { return st_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* st_ = nullptr;
};

// One connection. Opening a missing file read-only is an IoError naming the path.
class Db {
 public:
  Db() = default;
  Db(const std::string& path, bool read_only, int busy_timeout_ms = 10000);
  Db(Db&& o) noexcept : db_(o.db_), path_(std::move(o.path_)) { o.db_ = nullptr; }
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  void exec(std::string_view sql);  // one or more statements, no results
  Stmt prepare(std::string_view sql) const { return Stmt(db_, sql); }
  int64_t scalar_i64(std::string_view sql) const;  // first column of the first row (0 if no row)
  std::string scalar_text(std::string_view sql) const;
  bool has_table(const std::string& name) const;
  sqlite3* raw() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

// The SQLite message of the last error on `db`, prefixed with what we were doing.
[[noreturn]] void throw_sqlite(sqlite3* db, int rc, const std::string& what);

}  // namespace reasonrl::store

// sqlite.cpp: RAII connection and prepared statement over the SQLite C API; errors become typed exceptions.
#include "rl/store/sqlite.h"

#include <utility>

#include "rl/util/error.h"

namespace reasonrl::store {

void throw_sqlite(sqlite3* db, int rc, const std::string& what) {
  std::string msg = what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  const int prim = rc & 0xff;
  if (prim == SQLITE_CANTOPEN || prim == SQLITE_IOERR || prim == SQLITE_FULL || prim == SQLITE_READONLY ||
      prim == SQLITE_PERM || prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
    throw IoError(msg);
  throw FormatError(msg);
}

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db) {
  const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), 0, &st_, nullptr);
  if (rc != SQLITE_OK) {
    st_ = nullptr;
    throw_sqlite(db, rc, "cannot prepare SQL '" + std::string(sql.substr(0, 200)) + "'");
  }
  if (!st_) throw FormatError("empty SQL statement");
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (st_) sqlite3_finalize(st_);
    db_ = o.db_;
    st_ = std::exchange(o.st_, nullptr);
  }
  return *this;
}

Stmt::~Stmt() {
  if (st_) sqlite3_finalize(st_);
}

static void check_bind(sqlite3* db, int rc, int i) {
  if (rc != SQLITE_OK) throw_sqlite(db, rc, "cannot bind parameter " + std::to_string(i));
}

Stmt& Stmt::bind(int i, int64_t v) {
  check_bind(db_, sqlite3_bind_int64(st_, i, v), i);
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  check_bind(db_, sqlite3_bind_double(st_, i, v), i);
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
  check_bind(db_, sqlite3_bind_text64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8), i);
  return *this;
}
Stmt& Stmt::bind_blob(int i, std::string_view v) {
  check_bind(db_, sqlite3_bind_blob64(st_, i, v.empty() ? "" : v.data(), v.size(), SQLITE_TRANSIENT), i);
  return *this;
}
Stmt& Stmt::bind(int i, std::optional<double> v) {
  return v ? bind(i, *v) : bind_null(i);
}
Stmt& Stmt::bind_null(int i) {
  check_bind(db_, sqlite3_bind_null(st_, i), i);
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string sql = sqlite3_sql(st_) ? sqlite3_sql(st_) : "";
  sqlite3_reset(st_);
  throw_sqlite(db_, rc, "SQL '" + sql.substr(0, 200) + "' failed");
}

void Stmt::run() {
  while (step()) {
  }
  reset();
}

void Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

int Stmt::columns() const { return sqlite3_column_count(st_); }
std::string Stmt::column_name(int i) const {
  const char* n = sqlite3_column_name(st_, i);
  return n ? n : "";
}
int Stmt::column_type(int i) const { return sqlite3_column_type(st_, i); }
int64_t Stmt::i64(int i) const { return sqlite3_column_int64(st_, i); }
double Stmt::f64(int i) const { return sqlite3_column_double(st_, i); }
std::optional<double> Stmt::opt_f64(int i) const {
  if (is_null(i)) return std::nullopt;
  return f64(i);
}
std::string Stmt::text(int i) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, i));
  if (!p) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, i)));
}
std::string Stmt::blob(int i) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(st_, i));
  if (!p) return {};
  return std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, i)));
}
bool Stmt::readonly() const { return sqlite3_stmt_readonly(st_) != 0; }

Db::Db(const std::string& path, bool read_only, int busy_timeout_ms) : path_(path) {
  const int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    if ((rc & 0xff) == SQLITE_CANTOPEN)
      throw IoError("cannot open rollout store '" + path + "'" + (read_only ? " (no such file?)" : "") + ": " + msg);
    throw IoError("cannot open rollout store '" + path + "': " + msg);
  }
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  sqlite3_extended_result_codes(db_, 1);
}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close_v2(db_);
    db_ = std::exchange(o.db_, nullptr);
    path_ = std::move(o.path_);
  }
  return *this;
}

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

void Db::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string s(sql);
  const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    const std::string what = "SQL on '" + path_ + "' failed (" + s.substr(0, 120) + ")";
    const int prim = rc & 0xff;
    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED || prim == SQLITE_IOERR || prim == SQLITE_FULL ||
        prim == SQLITE_READONLY || prim == SQLITE_CANTOPEN)
      throw IoError(what + ": " + msg);
    throw FormatError(what + ": " + msg);
  }
}

int64_t Db::scalar_i64(std::string_view sql) const {
  Stmt s = prepare(sql);
  return s.step() ? s.i64(0) : 0;
}

std::string Db::scalar_text(std::string_view sql) const {
  Stmt s = prepare(sql);
  return s.step() ? s.text(0) : std::string();
}

bool Db::has_table(const std::string& name) const {
  Stmt s = prepare("SELECT 1 FROM sqlite_master WHERE type IN ('table','view') AND name = ?");
  s.bind(1, name);
  return s.step();
}

}  // namespace reasonrl::store

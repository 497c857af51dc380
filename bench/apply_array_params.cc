// The apply's 14 array parameters of a batch of 500 (450 terminal answers, 50 others) passed to a
// prepared statement as text (array_in) and in binary (array_recv): backend CPU per execution,
// from /proc/<pid>/schedstat (bench/README "Seventh session: the apply"). One-off, not built by CMake:
//   g++ -O2 -std=c++20 bench/apply_array_params.cc -o /tmp/aap -lpqxx -lpq && /tmp/aap postgresql://... 300
#include <pqxx/pqxx>
#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

struct Bin {
  std::string out;
  void i32(int32_t v) { uint32_t n = htonl(static_cast<uint32_t>(v)); out.append(reinterpret_cast<char*>(&n), 4); }
  void i64(int64_t v) { i32(static_cast<int32_t>(static_cast<uint64_t>(v) >> 32)); i32(static_cast<int32_t>(v & 0xffffffff)); }
};
std::string bin_text(const std::vector<std::optional<std::string>>& v) {
  Bin b; bool nulls = false; for (auto& e : v) nulls |= !e;
  b.i32(v.empty() ? 0 : 1); b.i32(nulls); b.i32(25);
  if (!v.empty()) { b.i32(static_cast<int32_t>(v.size())); b.i32(1); }
  for (auto& e : v) { if (!e) { b.i32(-1); continue; } b.i32(static_cast<int32_t>(e->size())); b.out += *e; }
  return b.out;
}
std::string bin_i64(const std::vector<int64_t>& v, int oid) {
  Bin b; b.i32(v.empty() ? 0 : 1); b.i32(0); b.i32(oid);
  if (!v.empty()) { b.i32(static_cast<int32_t>(v.size())); b.i32(1); }
  for (auto e : v) { if (oid == 20) { b.i32(8); b.i64(e); } else { b.i32(4); b.i32(static_cast<int32_t>(e)); } }
  return b.out;
}
std::string lit_text(const std::vector<std::optional<std::string>>& v) {
  std::string o = "{";
  for (auto& e : v) { if (o.size() > 1) o += ","; if (!e) { o += "NULL"; continue; } o += '"'; for (char c : *e) { if (c == '"' || c == '\\') o += '\\'; o += c; } o += '"'; }
  return o + "}";
}
std::string lit_i64(const std::vector<int64_t>& v) {
  std::string o = "{"; for (auto e : v) { if (o.size() > 1) o += ","; o += std::to_string(e); } return o + "}";
}
int64_t cpu(pqxx::work& tx) { return tx.exec1("SELECT split_part(pg_read_file('/proc/'||pg_backend_pid()||'/schedstat'), ' ', 1)::bigint")[0].as<int64_t>(); }

int main(int argc, char** argv) {
  pqxx::connection c(argv[1]);
  const int reps = std::stoi(argv[2]);
  std::vector<std::optional<std::string>> tok, st, raw, otok, okind, ost, oerr;
  std::vector<int64_t> claim, att, chk, oclaim, ohttp, oatt, ochk;
  for (int i = 0; i < 450; ++i) {
    std::string t = "bench-" + std::to_string(1000000000 + i * 7919) + std::to_string(i % 9);
    tok.push_back(t); st.push_back(i % 3 ? "COMPLETED" : "EXPIRED");
    raw.push_back("{\"sessionState\":\"COMPLETED\",\"checkOutUrl\":\"https://checkout.example/c/" + t + "\"}");
    claim.push_back(1); att.push_back(1); chk.push_back(1764547200000000 + i);
  }
  for (int i = 0; i < 50; ++i) {
    otok.push_back("bench-" + std::to_string(2000000000 + i) + "9"); okind.push_back("state"); ost.push_back("NEW"); oerr.push_back(std::nullopt);
    oclaim.push_back(1); ohttp.push_back(200); oatt.push_back(1); ochk.push_back(1764547200000000 + i);
  }
  const std::string q = "SELECT cardinality($1::text[]) + cardinality($2::bigint[]) + cardinality($3::text[]) + cardinality($4::text[]) + cardinality($5::integer[]) + cardinality($6::bigint[]) + cardinality($7::text[]) + cardinality($8::bigint[]) + cardinality($9::text[]) + cardinality($10::text[]) + cardinality($11::integer[]) + cardinality($12::integer[]) + cardinality($13::text[]) + cardinality($14::bigint[])";
  c.prepare("q", q);
  const auto L = std::make_tuple(lit_text(tok), lit_i64(claim), lit_text(st), lit_text(raw), lit_i64(att), lit_i64(chk), lit_text(otok), lit_i64(oclaim), lit_text(okind), lit_text(ost), lit_i64(ohttp), lit_i64(oatt), lit_text(oerr), lit_i64(ochk));
  auto B = [](const std::string& s) { return pqxx::binarystring(s.data(), s.size()); };
  const pqxx::binarystring b1 = B(bin_text(tok)), b2 = B(bin_i64(claim, 20)), b3 = B(bin_text(st)), b4 = B(bin_text(raw)), b5 = B(bin_i64(att, 23)), b6 = B(bin_i64(chk, 20)), b7 = B(bin_text(otok)), b8 = B(bin_i64(oclaim, 20)), b9 = B(bin_text(okind)), b10 = B(bin_text(ost)), b11 = B(bin_i64(ohttp, 23)), b12 = B(bin_i64(oatt, 23)), b13 = B(bin_text(oerr)), b14 = B(bin_i64(ochk, 20));
  for (int round = 0; round < 3; ++round) {
    int64_t t_text = 0, t_bin = 0, t_rawonly = 0;
    for (int mode = 0; mode < 3; ++mode) {
      pqxx::work tx(c);
      int64_t r = 0;
      const int64_t c0 = cpu(tx);
      for (int i = 0; i < reps; ++i) {
        pqxx::result res;
        if (mode == 0) res = tx.exec_prepared("q", std::get<0>(L), std::get<1>(L), std::get<2>(L), std::get<3>(L), std::get<4>(L), std::get<5>(L), std::get<6>(L), std::get<7>(L), std::get<8>(L), std::get<9>(L), std::get<10>(L), std::get<11>(L), std::get<12>(L), std::get<13>(L));
        else if (mode == 1) res = tx.exec_prepared("q", b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13, b14);
        else res = tx.exec_prepared("q", std::get<0>(L), std::get<1>(L), std::get<2>(L), b4, std::get<4>(L), std::get<5>(L), std::get<6>(L), std::get<7>(L), std::get<8>(L), std::get<9>(L), std::get<10>(L), std::get<11>(L), std::get<12>(L), std::get<13>(L));
        r = res[0][0].as<int64_t>();
      }
      const int64_t d = (cpu(tx) - c0) / reps / 1000;
      (mode == 0 ? t_text : mode == 1 ? t_bin : t_rawonly) = d;
      if (r != 3100) { std::cerr << "bad " << r << "\n"; return 1; }
      tx.commit();
    }
    std::cout << "per batch (us): text " << t_text << "  binary " << t_bin << "  text but raw answers binary " << t_rawonly << "\n";
  }
}

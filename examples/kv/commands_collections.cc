// The list, hash, set and sorted-set commands (the table is in store.cc;
// the replies follow redis-server 7.0, see store.h). A collection left
// empty by a command is deleted, as redis-server deletes it.
#include <algorithm>
#include <climits>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "examples/kv/commands.h"
#include "examples/kv/text.h"

namespace weft::kv {
namespace {

// The collection of type T at args[1]: null if there is none (or, *failed
// set, the key holds another type and WRONGTYPE was replied).
template <class T>
T* existing(Call& c, Type t, bool* failed) {
  bool wrong = false;
  Entry* e = c.lookup(1, t, &wrong);
  *failed = wrong;
  if (wrong) c.wrong_type();
  return e == nullptr ? nullptr : &std::get<T>(e->value);
}

// The same, made empty if there is none.
template <class T>
T* existing_or_new(Call& c, Type t, bool* failed) {
  T* v = existing<T>(c, t, failed);
  if (v == nullptr && !*failed) v = &std::get<T>(c.keys.put(c.arg(1), T{}).value);
  return v;
}

template <class T>
void drop_if_empty(Call& c, const T& v) {
  if (v.empty()) c.keys.erase(c.arg(1));
}

// A [start, stop] index range (negative: from the end) clipped to a
// collection of `size`; false when it selects nothing.
bool clip_range(std::int64_t start, std::int64_t stop, std::size_t size, std::size_t* from, std::size_t* count) {
  const auto len = static_cast<std::int64_t>(size);
  if (start < 0) start += len;
  if (stop < 0) stop += len;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return false;
  if (stop >= len) stop = len - 1;
  *from = static_cast<std::size_t>(start);
  *count = static_cast<std::size_t>(stop - start + 1);
  return true;
}

void push(Call& c, bool left) {
  bool failed = false;
  List* l = existing_or_new<List>(c, Type::list, &failed);
  if (failed) return;
  for (std::size_t i = 2; i < c.argc(); ++i) {
    if (left) {
      l->emplace_front(c.arg(i));
    } else {
      l->emplace_back(c.arg(i));
    }
  }
  c.out.integer(static_cast<std::int64_t>(l->size()));
  c.waiters.mark_ready(c.arg(1));
}

void pop(Call& c, bool left) {
  if (c.argc() > 3) return c.wrong_arity(c.name);
  const bool counted = c.argc() == 3;
  std::int64_t count = 1;
  if (counted && !c.count_arg(2, &count)) return;
  bool failed = false;
  List* l = existing<List>(c, Type::list, &failed);
  if (failed) return;
  if (l == nullptr) return counted ? c.out.null_array() : c.out.null();
  if (counted && count == 0) return c.out.array(0);
  const std::size_t n = std::min(static_cast<std::size_t>(count), l->size());
  if (counted) c.out.array(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (left) {
      c.out.bulk(l->front());
      l->pop_front();
    } else {
      c.out.bulk(l->back());
      l->pop_back();
    }
  }
  drop_if_empty(c, *l);
}

// A random member of a non-empty set: a random bucket, the next non-empty
// one from there, a random member of it.
Set::iterator random_member(Call& c, Set& s) {
  const std::size_t buckets = s.bucket_count();
  std::size_t b = static_cast<std::size_t>(c.keys.random() % buckets);
  while (s.bucket_size(b) == 0) b = (b + 1) % buckets;
  const auto skip = static_cast<std::ptrdiff_t>(c.keys.random() % s.bucket_size(b));
  return s.find(*std::next(s.begin(b), skip));
}

// Scores are stored with -0 as 0, as redis-server keeps small sorted sets.
double stored_score(double d) { return d == 0 ? 0.0 : d; }

void zset_put(ZSet& z, std::string_view member, double score) {
  auto it = z.scores.find(member);
  if (it != z.scores.end()) {
    z.order.erase({it->second, it->first});
    it->second = score;
  } else {
    it = z.scores.emplace(std::string(member), score).first;
  }
  z.order.emplace(score, it->first);
}

void zset_erase(ZSet& z, Hash::key_type member) {
  auto it = z.scores.find(member);
  z.order.erase({it->second, it->first});
  z.scores.erase(it);
}

}  // namespace

// ---- lists ------------------------------------------------------------------

void cmd_lpush(Call& c) { push(c, true); }
void cmd_rpush(Call& c) { push(c, false); }
void cmd_lpop(Call& c) { pop(c, true); }
void cmd_rpop(Call& c) { pop(c, false); }

namespace {

// BLPOP / BRPOP key [key ...] timeout. The timeout is seconds as a long
// double, made milliseconds and rounded up to a whole number (so a positive
// one under a millisecond waits one, and -0.001 is 0, no limit, as
// redis-server 7.0 has it); below zero, or beyond 64 bits (infinities too),
// is "negative". The first listed key that holds a non-empty list is popped
// at once; a key of another type on the way is WRONGTYPE.
void blocking_pop(Call& c, bool left) {
  long double seconds = 0;
  if (!parse_long_double(c.arg(c.argc() - 1), &seconds))
    return c.out.error("ERR timeout is not a float or out of range");
  const long double ms = std::ceil(seconds * 1000.0L);
  constexpr long double kLimit = 9223372036854775808.0L;  // 2^63
  if (!(ms > -kLimit && ms < kLimit) || ms < 0) return c.out.error("ERR timeout is negative");
  const auto timeout = static_cast<std::int64_t>(ms);
  for (std::size_t i = 1; i + 1 < c.argc(); ++i) {
    bool wrong = false;
    Entry* e = c.lookup(i, Type::list, &wrong);
    if (wrong) return c.wrong_type();
    if (e == nullptr) continue;
    List& l = std::get<List>(e->value);
    c.out.array(2);
    c.out.bulk(c.arg(i));
    if (left) {
      c.out.bulk(l.front());
      l.pop_front();
    } else {
      c.out.bulk(l.back());
      l.pop_back();
    }
    if (l.empty()) c.keys.erase(c.arg(i));
    return;
  }
  PopWaiter* w = c.client.waiter;
  if (w == nullptr) return c.out.null_array();  // nobody to park
  w->keys.assign(c.args.begin() + 1, c.args.end() - 1);
  w->left = left;
  w->timeout_ms = timeout;
  w->served = false;
  c.waiters.add(*w);
  c.after = After::block;
}

}  // namespace

void cmd_blpop(Call& c) { blocking_pop(c, true); }
void cmd_brpop(Call& c) { blocking_pop(c, false); }

void cmd_llen(Call& c) {
  bool failed = false;
  List* l = existing<List>(c, Type::list, &failed);
  if (!failed) c.out.integer(l == nullptr ? 0 : static_cast<std::int64_t>(l->size()));
}

void cmd_lrange(Call& c) {
  std::int64_t start = 0, stop = 0;
  if (!c.integer_arg(2, &start) || !c.integer_arg(3, &stop)) return;
  bool failed = false;
  List* l = existing<List>(c, Type::list, &failed);
  if (failed) return;
  std::size_t from = 0, n = 0;
  if (l == nullptr || !clip_range(start, stop, l->size(), &from, &n)) return c.out.array(0);
  c.out.array(n);
  for (auto it = l->begin() + static_cast<std::ptrdiff_t>(from); n > 0; --n, ++it) c.out.bulk(*it);
}

void cmd_lindex(Call& c) {
  bool failed = false;
  List* l = existing<List>(c, Type::list, &failed);
  if (failed) return;
  if (l == nullptr) return c.out.null();
  std::int64_t i = 0;
  if (!c.integer_arg(2, &i)) return;
  const auto len = static_cast<std::int64_t>(l->size());
  if (i < 0) i += len;
  if (i < 0 || i >= len) return c.out.null();
  c.out.bulk((*l)[static_cast<std::size_t>(i)]);
}

// ---- hashes -----------------------------------------------------------------

void cmd_hset(Call& c) {
  if (c.argc() % 2 == 1) return c.wrong_arity(c.name);
  bool failed = false;
  Hash* h = existing_or_new<Hash>(c, Type::hash, &failed);
  if (failed) return;
  std::int64_t added = 0;
  for (std::size_t i = 2; i < c.argc(); i += 2) {
    auto it = h->find(c.arg(i));
    if (it == h->end()) {
      h->emplace(std::string(c.arg(i)), std::string(c.arg(i + 1)));
      ++added;
    } else {
      it->second = c.arg(i + 1);
    }
  }
  c.out.integer(added);
}

void cmd_hget(Call& c) {
  bool failed = false;
  Hash* h = existing<Hash>(c, Type::hash, &failed);
  if (failed) return;
  const auto it = h == nullptr ? Hash::iterator() : h->find(c.arg(2));
  if (h == nullptr || it == h->end()) return c.out.null();
  c.out.bulk(it->second);
}

void cmd_hdel(Call& c) {
  bool failed = false;
  Hash* h = existing<Hash>(c, Type::hash, &failed);
  if (failed) return;
  if (h == nullptr) return c.out.integer(0);
  std::int64_t n = 0;
  for (std::size_t i = 2; i < c.argc(); ++i) {
    const auto it = h->find(c.arg(i));
    if (it != h->end()) {
      h->erase(it);
      ++n;
    }
  }
  c.out.integer(n);
  drop_if_empty(c, *h);
}

void cmd_hgetall(Call& c) {
  bool failed = false;
  Hash* h = existing<Hash>(c, Type::hash, &failed);
  if (failed) return;
  if (h == nullptr) return c.out.array(0);
  c.out.array(h->size() * 2);
  for (const auto& [field, value] : *h) {
    c.out.bulk(field);
    c.out.bulk(value);
  }
}

void cmd_hlen(Call& c) {
  bool failed = false;
  Hash* h = existing<Hash>(c, Type::hash, &failed);
  if (!failed) c.out.integer(h == nullptr ? 0 : static_cast<std::int64_t>(h->size()));
}

void cmd_hincrby(Call& c) {
  std::int64_t by = 0;
  if (!c.integer_arg(3, &by)) return;
  bool failed = false;
  Hash* h = existing_or_new<Hash>(c, Type::hash, &failed);
  if (failed) return;
  auto it = h->find(c.arg(2));
  std::int64_t value = 0;
  if (it != h->end() && !parse_int64(it->second, &value)) return c.out.error("ERR hash value is not an integer");
  if ((by < 0 && value < 0 && by < LLONG_MIN - value) || (by > 0 && value > 0 && by > LLONG_MAX - value))
    return c.out.error("ERR increment or decrement would overflow");
  value += by;
  std::string text;
  append_int64(text, value);
  if (it == h->end()) {
    h->emplace(std::string(c.arg(2)), std::move(text));
  } else {
    it->second = std::move(text);
  }
  c.out.integer(value);
}

// ---- sets -------------------------------------------------------------------

void cmd_sadd(Call& c) {
  bool failed = false;
  Set* s = existing_or_new<Set>(c, Type::set, &failed);
  if (failed) return;
  std::int64_t added = 0;
  for (std::size_t i = 2; i < c.argc(); ++i)
    if (s->emplace(c.arg(i)).second) ++added;
  c.out.integer(added);
}

void cmd_srem(Call& c) {
  bool failed = false;
  Set* s = existing<Set>(c, Type::set, &failed);
  if (failed) return;
  if (s == nullptr) return c.out.integer(0);
  std::int64_t n = 0;
  for (std::size_t i = 2; i < c.argc(); ++i) {
    const auto it = s->find(c.arg(i));
    if (it != s->end()) {
      s->erase(it);
      ++n;
    }
  }
  c.out.integer(n);
  drop_if_empty(c, *s);
}

void cmd_smembers(Call& c) {
  bool failed = false;
  Set* s = existing<Set>(c, Type::set, &failed);
  if (failed) return;
  if (s == nullptr) return c.out.array(0);
  c.out.array(s->size());
  for (const std::string& m : *s) c.out.bulk(m);
}

void cmd_sismember(Call& c) {
  bool failed = false;
  Set* s = existing<Set>(c, Type::set, &failed);
  if (!failed) c.out.integer(s != nullptr && s->find(c.arg(2)) != s->end() ? 1 : 0);
}

void cmd_scard(Call& c) {
  bool failed = false;
  Set* s = existing<Set>(c, Type::set, &failed);
  if (!failed) c.out.integer(s == nullptr ? 0 : static_cast<std::int64_t>(s->size()));
}

void cmd_spop(Call& c) {
  // The log records the members it chose (journal.h), not the choice.
  c.logged_as_set = true;
  if (c.argc() > 3) return c.syntax_error();
  const bool counted = c.argc() == 3;
  std::int64_t count = 1;
  if (counted && !c.count_arg(2, &count)) return;
  bool failed = false;
  Set* s = existing<Set>(c, Type::set, &failed);
  if (failed) return;
  if (s == nullptr) return counted ? c.out.array(0) : c.out.null();
  const std::size_t n = std::min(static_cast<std::size_t>(count), s->size());
  if (counted) c.out.array(n);
  if (n > 0) {
    c.logged_as.reserve(n + 2);
    c.logged_as.emplace_back("SREM");
    c.logged_as.emplace_back(c.arg(1));
  }
  for (std::size_t i = 0; i < n; ++i) {
    const auto it = random_member(c, *s);
    c.out.bulk(*it);
    c.logged_as.push_back(*it);
    s->erase(it);
  }
  drop_if_empty(c, *s);
}

// ---- sorted sets ------------------------------------------------------------

void cmd_zadd(Call& c) {
  bool nx = false, xx = false, gt = false, lt = false, ch = false, incr = false;
  std::size_t i = 2;
  for (; i < c.argc(); ++i) {
    const std::string_view o = c.arg(i);
    if (iequals(o, "nx")) nx = true;
    else if (iequals(o, "xx")) xx = true;
    else if (iequals(o, "gt")) gt = true;
    else if (iequals(o, "lt")) lt = true;
    else if (iequals(o, "ch")) ch = true;
    else if (iequals(o, "incr")) incr = true;
    else break;
  }
  const std::size_t elements = c.argc() - i;
  if (elements == 0 || elements % 2 != 0) return c.syntax_error();
  if (nx && xx) return c.out.error("ERR XX and NX options at the same time are not compatible");
  if ((gt && nx) || (lt && nx) || (gt && lt))
    return c.out.error("ERR GT, LT, and/or NX options at the same time are not compatible");
  if (incr && elements > 2) return c.out.error("ERR INCR option supports a single increment-element pair");
  std::vector<double> scores;
  for (std::size_t j = i; j < c.argc(); j += 2) {
    double d = 0;
    if (!parse_double(c.arg(j), &d)) return c.not_float();
    scores.push_back(d);
  }
  bool failed = false;
  ZSet* z = existing<ZSet>(c, Type::zset, &failed);
  if (failed) return;
  if (z == nullptr && xx) return incr ? c.out.null() : c.out.integer(0);
  if (z == nullptr) z = &std::get<ZSet>(c.keys.put(c.arg(1), ZSet{}).value);
  std::int64_t added = 0, updated = 0;
  bool skipped = false;
  double result = 0;
  for (std::size_t k = 0; k < scores.size(); ++k) {
    const std::string_view member = c.arg(i + 2 * k + 1);
    double score = scores[k];
    const auto it = z->scores.find(member);
    if (it == z->scores.end()) {
      if (xx) {
        skipped = true;
        continue;
      }
      result = score;  // INCR's reply: as computed, -0 included
      zset_put(*z, member, stored_score(score));
      ++added;
      continue;
    }
    const double current = it->second;
    if (nx) {
      skipped = true;
      continue;
    }
    if (incr) {
      score += current;
      if (std::isnan(score)) {
        drop_if_empty(c, z->scores);
        return c.out.error("ERR resulting score is not a number (NaN)");
      }
    }
    if ((gt && score <= current) || (lt && score >= current)) {
      skipped = true;
      continue;
    }
    result = score;
    if (stored_score(score) != current) {
      zset_put(*z, member, stored_score(score));
      ++updated;
    }
  }
  drop_if_empty(c, z->scores);
  if (incr) return skipped ? c.out.null() : c.out.score(result);
  c.out.integer(ch ? added + updated : added);
}

void cmd_zrem(Call& c) {
  bool failed = false;
  ZSet* z = existing<ZSet>(c, Type::zset, &failed);
  if (failed) return;
  if (z == nullptr) return c.out.integer(0);
  std::int64_t n = 0;
  for (std::size_t i = 2; i < c.argc(); ++i) {
    if (z->scores.find(c.arg(i)) != z->scores.end()) {
      zset_erase(*z, std::string(c.arg(i)));
      ++n;
    }
  }
  c.out.integer(n);
  drop_if_empty(c, z->scores);
}

void cmd_zscore(Call& c) {
  bool failed = false;
  ZSet* z = existing<ZSet>(c, Type::zset, &failed);
  if (failed) return;
  const auto it = z == nullptr ? decltype(z->scores)::iterator() : z->scores.find(c.arg(2));
  if (z == nullptr || it == z->scores.end()) return c.out.null();
  c.out.score(it->second);
}

void cmd_zrange(Call& c) {
  bool withscores = false, rev = false, by = false, limit = false;
  for (std::size_t i = 4; i < c.argc(); ++i) {
    const std::string_view o = c.arg(i);
    if (iequals(o, "withscores")) {
      withscores = true;
    } else if (iequals(o, "rev")) {
      rev = true;
    } else if (iequals(o, "byscore") || iequals(o, "bylex")) {
      by = true;
    } else if (iequals(o, "limit") && i + 2 < c.argc()) {
      std::int64_t unused = 0;
      if (!c.integer_arg(i + 1, &unused) || !c.integer_arg(i + 2, &unused)) return;
      limit = true;
      i += 2;
    } else {
      return c.syntax_error();
    }
  }
  if (limit && !by)
    return c.out.error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
  if (by) return c.out.error("ERR BYSCORE and BYLEX ranges are not supported by this server");
  std::int64_t start = 0, stop = 0;
  if (!c.integer_arg(2, &start) || !c.integer_arg(3, &stop)) return;
  bool failed = false;
  ZSet* z = existing<ZSet>(c, Type::zset, &failed);
  if (failed) return;
  std::size_t from = 0, n = 0;
  if (z == nullptr || !clip_range(start, stop, z->order.size(), &from, &n)) return c.out.array(0);
  c.out.array(withscores ? n * 2 : n);
  auto emit = [&](const std::pair<double, std::string>& p) {
    c.out.bulk(p.second);
    if (withscores) c.out.score(p.first);
  };
  if (rev) {
    auto it = std::next(z->order.rbegin(), static_cast<std::ptrdiff_t>(from));
    for (; n > 0; --n, ++it) emit(*it);
  } else {
    auto it = std::next(z->order.begin(), static_cast<std::ptrdiff_t>(from));
    for (; n > 0; --n, ++it) emit(*it);
  }
}

void cmd_zcard(Call& c) {
  bool failed = false;
  ZSet* z = existing<ZSet>(c, Type::zset, &failed);
  if (!failed) c.out.integer(z == nullptr ? 0 : static_cast<std::int64_t>(z->scores.size()));
}

void cmd_zpopmin(Call& c) {
  if (c.argc() > 3) return c.syntax_error();
  std::int64_t count = 1;
  if (c.argc() == 3 && !c.count_arg(2, &count)) return;
  bool failed = false;
  ZSet* z = existing<ZSet>(c, Type::zset, &failed);
  if (failed) return;
  if (z == nullptr || count == 0) return c.out.array(0);
  const std::size_t n = std::min(static_cast<std::size_t>(count), z->order.size());
  c.out.array(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    const auto first = z->order.begin();
    c.out.bulk(first->second);
    c.out.score(first->first);
    z->scores.erase(first->second);
    z->order.erase(first);
  }
  drop_if_empty(c, z->scores);
}

}  // namespace weft::kv

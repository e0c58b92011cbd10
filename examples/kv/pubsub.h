// Publish/subscribe: channels and glob patterns (text.h's glob_match, as
// KEYS uses), the connections subscribed to them, and the messages on their
// way to those connections.
//
// A Subscriber is one connection's side: the channels and patterns it
// listens to, in the order it subscribed (an UNSUBSCRIBE or PUNSUBSCRIBE
// without names leaves them in that order), and its outbox, the messages
// published to it and not yet taken by its connection. PUBLISH never waits
// for a subscriber: it appends the message (in RESP2: *3 message <channel>
// <payload>, or *4 pmessage <pattern> <channel> <payload>) to each
// receiver's outbox and wakes the connection if it waits for input. An
// outbox that would grow past its limit (ServerOptions::subscriber_limit,
// as redis-server's client-output-buffer-limit for pubsub clients) drops
// its subscriber: it receives nothing more and its connection closes (its
// writes are cancelled through dropped()).
//
// A message goes first to the channel's subscribers, in the order they
// subscribed, then to each matching pattern's, patterns in byte order
// (redis-server walks its patterns in hash order: a client matching several
// patterns may see its pmessages in another order there). PUBLISH replies
// with the number of messages it queued: a connection subscribed to the
// channel and to a matching pattern counts, and receives, twice.
//
// The subscribe and unsubscribe replies are appended to the command's reply
// under the hub's lock, after whatever the outbox held, so a message
// published before a SUBSCRIBE or UNSUBSCRIBE reaches the client before
// its reply and one published after comes after it.
//
// Thread rules: PubSub's calls from any fiber; one weft::Mutex guards the
// hub and every Subscriber's shared state. A Subscriber belongs to one
// connection's fiber: only it calls subscribe/unsubscribe/take for it, and
// it calls leave() before destroying it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <weft/weft.h>

#include "examples/kv/keyspace.h"
#include "examples/kv/resp.h"

namespace weft::kv {

class PubSub;

class Subscriber {
 public:
  // `limit`: the outbox's bytes at most; `parent`: a token that also
  // cancels dropped() (the stop's cutting(); may be null).
  Subscriber(std::size_t limit, CancelToken* parent);
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Channels and patterns subscribed (the owner's view).
  std::size_t subscriptions() const { return channels_.size() + patterns_.size(); }
  // Cancelled when the outbox overflowed (or `parent` was cancelled): the
  // connection's writes wait with it, and end.
  CancelToken* dropped() { return &dropped_; }

 private:
  friend class PubSub;
  const std::size_t limit_;
  // Written by the owner under the hub's lock; read by the owner freely.
  std::vector<std::string> channels_, patterns_;
  // Guarded by the hub's lock.
  std::string outbox_;
  bool overflowed_ = false;
  CancelToken* wake_ = nullptr;  // the owner's read to cut short, while it waits
  CancelToken dropped_;
  CancelToken::Link parent_link_;
};

class PubSub {
 public:
  // SUBSCRIBE / PSUBSCRIBE: subscribes `s` to each of `names` and appends
  // one reply for each ([p]subscribe, name, subscriptions now) to `out`,
  // after the messages its outbox held.
  void subscribe(Subscriber& s, bool pattern, std::span<const std::string_view> names, Reply& out);
  // UNSUBSCRIBE / PUNSUBSCRIBE: the same, taking subscriptions away; no
  // names: every channel (pattern) of `s`, or one reply with a null name
  // when it has none.
  void unsubscribe(Subscriber& s, bool pattern, std::span<const std::string_view> names,
                   Reply& out);
  // Takes `s` out of every channel and pattern (its connection ends, or RESET).
  void leave(Subscriber& s);
  // PUBLISH: queues the message for every receiver; returns how many.
  std::int64_t publish(std::string_view channel, std::string_view message);

  // The owner's side of the outbox. take(): appends what it holds to `to`
  // and empties it; false once `s` was dropped. wake_with(): `token` is
  // cancelled by the next publish to `s` (or now, true, if the outbox holds
  // something or `s` was dropped); null ends that.
  bool take(Subscriber& s, std::string& to);
  bool wake_with(Subscriber& s, CancelToken* token);

 private:
  using Subscribers = std::vector<Subscriber*>;  // in the order they subscribed
  void deliver(Subscriber& s, std::string_view message);
  void drop_from(Subscribers& list, Subscriber& s);
  void confirm(Subscriber& s, std::string_view kind, const std::string_view* name, Reply& out);

  Mutex mutex_;
  std::unordered_map<std::string, Subscribers, KeyHash, std::equal_to<>>
      channels_;                                              // guarded by mutex_
  std::map<std::string, Subscribers, std::less<>> patterns_;  // guarded by mutex_
};

}  // namespace weft::kv

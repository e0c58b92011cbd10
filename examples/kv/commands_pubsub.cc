// The pub/sub commands (the table is in store.cc; the hub and its replies
// are pubsub.h's). Without a client (the store used alone) there is no
// hub: SUBSCRIBE and its kind reply as for a client that got nothing, and
// PUBLISH reaches nobody.
#include <span>
#include <string_view>

#include "examples/kv/commands.h"

namespace weft::kv {
namespace {

void subscription(Call& c, bool pattern, bool subscribing) {
  const std::span<const std::string_view> names = c.args.subspan(1);
  const Client& cl = c.client;
  if (cl.pubsub == nullptr || cl.subscriber == nullptr) {
    const std::string_view kind = subscribing ? (pattern ? "psubscribe" : "subscribe")
                                              : (pattern ? "punsubscribe" : "unsubscribe");
    if (names.empty()) {
      c.out.array(3);
      c.out.bulk(kind);
      c.out.null();
      c.out.integer(0);
    }
    for (std::string_view n : names) {
      c.out.array(3);
      c.out.bulk(kind);
      c.out.bulk(n);
      c.out.integer(0);
    }
    return;
  }
  if (subscribing) {
    cl.pubsub->subscribe(*cl.subscriber, pattern, names, c.out);
  } else {
    cl.pubsub->unsubscribe(*cl.subscriber, pattern, names, c.out);
  }
}

}  // namespace

void cmd_subscribe(Call& c) { subscription(c, false, true); }
void cmd_unsubscribe(Call& c) { subscription(c, false, false); }
void cmd_psubscribe(Call& c) { subscription(c, true, true); }
void cmd_punsubscribe(Call& c) { subscription(c, true, false); }

void cmd_publish(Call& c) {
  c.out.integer(c.client.pubsub == nullptr ? 0 : c.client.pubsub->publish(c.arg(1), c.arg(2)));
}

// RESET: what of a client's state this server has goes back to a new
// connection's (its subscriptions).
void cmd_reset(Call& c) {
  if (c.client.pubsub != nullptr && c.client.subscriber != nullptr)
    c.client.pubsub->leave(*c.client.subscriber);
  c.out.simple("RESET");
}

}  // namespace weft::kv

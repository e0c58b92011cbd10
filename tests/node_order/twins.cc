// One function per program in this folder, line for line with its .js file.
#include "node_order/twins.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace weft::node_order {
namespace {

using node::Loop;
using node::Socket;

// The .js file itself (what `__filename` names there).
std::string source(const char* name) {
  return std::string(WEFT_SOURCE_DIR) + "/tests/node_order/" + name + ".js";
}

void main_timeout_vs_immediate(Loop& loop, const Print& log) {
  loop.set_timeout([log] { log("timeout"); }, 0);
  loop.set_immediate([log] { log("immediate"); });
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(5);
  while (std::chrono::steady_clock::now() < end) {
  }
  log("main done");
}

void io_timeout_vs_immediate(Loop& loop, const Print& log) {
  loop.read_file(source("io_timeout_vs_immediate"), [&loop, log](std::error_code, std::string) {
    log("read");
    loop.set_timeout([log] { log("timeout"); }, 0);
    loop.set_immediate([log] { log("immediate"); });
  });
}

void tick_microtask_immediate(Loop& loop, const Print& log) {
  loop.set_immediate([log] { log("immediate"); });
  loop.queue_microtask([log] { log("microtask"); });
  loop.next_tick([log] { log("tick"); });
  log("main");
}

void nested_ticks_and_microtasks(Loop& loop, const Print& log) {
  loop.next_tick([&loop, log] {
    log("tick a");
    loop.next_tick([log] { log("tick a2"); });
  });
  loop.queue_microtask([&loop, log] {
    log("micro m");
    loop.next_tick([log] { log("tick from m"); });
    loop.queue_microtask([log] { log("micro m2"); });
  });
  loop.next_tick([log] { log("tick b"); });
}

void interval_cleared_inside(Loop& loop, const Print& log) {
  auto n = std::make_shared<int>(0);
  auto id = std::make_shared<node::TimerHandle>();
  *id = loop.set_interval(
      [&loop, log, n, id] {
        *n += 1;
        log("interval " + std::to_string(*n));
        if (*n == 3) {
          loop.clear_interval(*id);
          loop.set_timeout([log] { log("after"); }, 5);
        }
      },
      1);
}

void timeout_clears_interval(Loop& loop, const Print& log) {
  const auto interval = loop.set_interval([log] { log("interval (never)"); }, 20);
  const auto later = loop.set_timeout([log] { log("later (never)"); }, 30);
  loop.set_timeout(
      [&loop, log, interval] {
        log("first");
        loop.clear_interval(interval);
      },
      5);
  loop.set_timeout(
      [&loop, log, later] {
        log("second");
        loop.clear_timeout(later);
      },
      5);
}

void equal_delay_timers(Loop& loop, const Print& log) {
  loop.set_timeout([log] { log("A 40"); }, 40);
  loop.set_timeout([log] { log("B 40"); }, 40);
  loop.set_timeout([log] { log("C 40"); }, 40);
  loop.set_timeout([log] { log("D 1"); }, 1);
}

void immediate_scheduled_by_immediate(Loop& loop, const Print& log) {
  loop.set_immediate([&loop, log] {
    log("immediate 1");
    loop.set_immediate([log] { log("immediate 3 (set by 1)"); });
  });
  loop.set_immediate([log] { log("immediate 2"); });
}

void ticks_between_immediates(Loop& loop, const Print& log) {
  loop.set_immediate([&loop, log] {
    log("immediate 1");
    loop.queue_microtask([log] { log("microtask from 1"); });
    loop.next_tick([log] { log("tick from 1"); });
  });
  loop.set_immediate([log] { log("immediate 2"); });
}

void ticks_between_timers(Loop& loop, const Print& log) {
  loop.set_timeout(
      [&loop, log] {
        log("timeout 1");
        loop.queue_microtask([log] { log("microtask from 1"); });
        loop.next_tick([log] { log("tick from 1"); });
      },
      2);
  loop.set_timeout([log] { log("timeout 2"); }, 2);
}

void clear_immediate(Loop& loop, const Print& log) {
  const auto a = loop.set_immediate([log] { log("a (never)"); });
  loop.clear_immediate(a);
  auto c = std::make_shared<node::ImmediateHandle>();
  loop.set_immediate([&loop, log, c] {
    log("b");
    loop.clear_immediate(*c);
  });
  *c = loop.set_immediate([log] { log("c (never)"); });
  loop.set_immediate([log] { log("d"); });
}

void server_listen_and_close(Loop& loop, const Print& log) {
  auto server = loop.create_server([](std::shared_ptr<Socket>) {});
  server->listen(0, "127.0.0.1", [&loop, log, server] {
    log("listening");
    loop.set_immediate([log] { log("immediate"); });
    server->close([log] { log("server closed"); });
    loop.next_tick([log] { log("tick after close"); });
  });
  log("main done");
}

void tcp_client_events(Loop& loop, const Print& log) {
  auto server = loop.create_server([log](std::shared_ptr<Socket> sock) {
    sock->on_data([log, s = sock.get()](std::string_view d) {
      log("server: data " + std::string(d));
      s->end("echo " + std::string(d));
    });
  });
  server->listen(0, "127.0.0.1", [&loop, log, server] {
    auto client = std::make_shared<std::shared_ptr<Socket>>();
    *client = loop.connect(server->port(), "127.0.0.1", [log, client] {
      log("client: connected");
      (*client)->write("hi");
    });
    (*client)->on_data([log](std::string_view d) { log("client: data " + std::string(d)); });
    (*client)->on_end([&loop, log] {
      log("client: end");
      loop.set_immediate([log] { log("immediate set at end"); });
    });
    (*client)->on_close([log, server, client] {
      log("client: close");
      server->close([log] { log("server closed"); });
      client->reset();  // the socket no longer needs itself
    });
  });
}

void readfile_callback_phases(Loop& loop, const Print& log) {
  loop.read_file("/nonexistent/weft", [&loop, log](std::error_code missing, std::string) {
    log(std::string("missing: ") +
        (missing == std::errc::no_such_file_or_directory ? "ENOENT" : missing.message()));
    loop.read_file(source("readfile_callback_phases"), [&loop, log](std::error_code e, std::string data) {
      log(std::string("read ") + (e ? "failed" : "ok") + ": " + (data.size() > 0 ? "true" : "false"));
      loop.set_timeout([log] { log("timeout"); }, 0);
      loop.set_immediate([log] { log("immediate"); });
      loop.queue_microtask([log] { log("microtask"); });
      loop.next_tick([log] { log("tick"); });
    });
  });
  log("main done");
}


void close_inside_close(Loop& loop, const Print& log) {
  auto server = loop.create_server([log](std::shared_ptr<Socket> sock) {
    sock->on_data([log, s = sock.get()](std::string_view d) {
      log("server: data " + std::string(d));
      s->end("echo " + std::string(d));
    });
    sock->on_end([log] { log("server: end"); });
    sock->on_close([log] { log("server: socket close"); });
  });
  server->listen(0, "127.0.0.1", [&loop, log, server] {
    auto client = std::make_shared<std::shared_ptr<Socket>>();
    *client = loop.connect(server->port(), "127.0.0.1", [log, client] {
      log("client: connected");
      (*client)->write("hi");
    });
    (*client)->on_data([log](std::string_view d) { log("client: data " + std::string(d)); });
    (*client)->on_end([log] { log("client: end"); });
    (*client)->on_close([&loop, log, server, client] {
      log("client: close");
      server->close([log] { log("server closed"); });
      loop.next_tick([log] { log("tick after server.close"); });
      loop.set_immediate([log] { log("immediate after server.close"); });
      client->reset();  // the socket no longer needs itself
    });
  });
}

void server_close_with_open_connections(Loop& loop, const Print& log) {
  auto accepted = std::make_shared<int>(0);
  auto a = std::make_shared<std::shared_ptr<Socket>>();
  auto b = std::make_shared<std::shared_ptr<Socket>>();
  auto end_soon = [&loop, log](const std::string& name, std::shared_ptr<Socket> sock) {
    loop.set_timeout(
        [log, name, sock] {
          log(name + ": end()");
          sock->end();
        },
        5);
  };
  auto server = std::make_shared<std::shared_ptr<node::Server>>();
  *server = loop.create_server([log, accepted, a, end_soon, server](std::shared_ptr<Socket> sock) {
    const int me = ++*accepted;
    sock->on_end([log, me] { log("server " + std::to_string(me) + ": end"); });
    sock->on_close([log, me] { log("server " + std::to_string(me) + ": close"); });
    if (me == 2) {
      (*server)->close([log] { log("server closed"); });
      server->reset();  // the server no longer needs itself
      log("server.close() with 2 open");
      end_soon("a", *a);
    }
  });
  (*server)->listen(0, "127.0.0.1", [&loop, log, server, a, b, end_soon] {
    const std::uint16_t port = (*server)->port();
    *a = loop.connect(port, "127.0.0.1", [&loop, log, port, b] {
      *b = loop.connect(port, "127.0.0.1", {});
      (*b)->on_end([log] { log("b: end"); });
      (*b)->on_close([log] { log("b: close"); });
    });
    (*a)->on_end([log] { log("a: end"); });
    (*a)->on_close([log, b, end_soon] {
      log("a: close");
      end_soon("b", *b);
    });
  });
}

void both_sides_end_close(Loop& loop, const Print& log) {
  auto server = loop.create_server([&loop, log](std::shared_ptr<Socket> sock) {
    sock->on_end([&loop, log] {
      log("server: end");
      loop.set_immediate([log] { log("immediate set at server end"); });
    });
    sock->on_close([log] { log("server: close"); });
  });
  server->listen(0, "127.0.0.1", [&loop, log, server] {
    auto client = std::make_shared<std::shared_ptr<Socket>>();
    *client = loop.connect(server->port(), "127.0.0.1", [&loop, log, client] {
      log("client: connected");
      (*client)->end();
      loop.set_immediate([log] { log("immediate set at client end()"); });
    });
    (*client)->on_end([&loop, log] {
      log("client: end");
      loop.set_immediate([&loop, log] {
        log("immediate 1 set at client end");
        loop.set_immediate([log] { log("immediate 2 set by immediate 1"); });
      });
    });
    (*client)->on_close([log, server, client] {
      log("client: close");
      server->close([log] { log("server closed"); });
      client->reset();  // the socket no longer needs itself
    });
  });
}

}  // namespace

const std::vector<Twin>& twins() {
  static const std::vector<Twin> all = {
      {"main_timeout_vs_immediate", main_timeout_vs_immediate},
      {"io_timeout_vs_immediate", io_timeout_vs_immediate},
      {"tick_microtask_immediate", tick_microtask_immediate},
      {"nested_ticks_and_microtasks", nested_ticks_and_microtasks},
      {"interval_cleared_inside", interval_cleared_inside},
      {"timeout_clears_interval", timeout_clears_interval},
      {"equal_delay_timers", equal_delay_timers},
      {"immediate_scheduled_by_immediate", immediate_scheduled_by_immediate},
      {"ticks_between_immediates", ticks_between_immediates},
      {"ticks_between_timers", ticks_between_timers},
      {"clear_immediate", clear_immediate},
      {"server_listen_and_close", server_listen_and_close},
      {"tcp_client_events", tcp_client_events},
      {"readfile_callback_phases", readfile_callback_phases},
      {"close_inside_close", close_inside_close},
      {"server_close_with_open_connections", server_close_with_open_connections},
      {"both_sides_end_close", both_sides_end_close},
  };
  return all;
}

}  // namespace weft::node_order

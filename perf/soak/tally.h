// What a soak run counted: bytes, the actions it took on purpose (resets,
// half-closes, idle periods: none of them is an error), and the errors, by
// kind. An error is anything the server did that a correct server does
// not: refuse or drop a connection, reset it, close it early, send a wrong
// byte, answer wrongly, or stall.
//
// Thread rules: one Tally per client thread; plain counters.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace weft::soak {

enum class ErrorKind : std::size_t {
  connect_refused,      // ECONNREFUSED: the listener was not there, or its backlog overflowed
  connect_timeout,      // the handshake did not finish in --connect-timeout
  connect_failed,       // another connect error
  reset_by_server,      // ECONNRESET / EPIPE that this client did not cause
  early_eof,            // the server closed before every byte or answer came back
  stalled,              // bytes owed, and nothing moved for --stall-timeout
  stalled_at_end,       // still owed bytes when the final drain's time was up
  corrupt,              // a byte came back different, or more came back than went out
  bad_response,         // http: a status, header or length other than the one due
  unexpected_close,     // http: `Connection: close` that the request did not ask for
  socket_error,         // another read or write error
  client_out_of_ports,  // EADDRNOTAVAIL at connect: this machine's ephemeral ports ran out
  client_out_of_fds,    // EMFILE / ENFILE in this client
  count
};

constexpr const char* kErrorNames[] = {"connect_refused",  "connect_timeout", "connect_failed",
                                       "reset_by_server",  "early_eof",       "stalled",
                                       "stalled_at_end",   "corrupt",         "bad_response",
                                       "unexpected_close", "socket_error",    "client_out_of_ports",
                                       "client_out_of_fds"};
static_assert(std::size(kErrorNames) == static_cast<std::size_t>(ErrorKind::count));

constexpr const char* error_name(ErrorKind k) { return kErrorNames[static_cast<std::size_t>(k)]; }

struct Tally {
  // bytes
  std::uint64_t bytes_sent = 0;      // every byte written to the server
  std::uint64_t bytes_verified = 0;  // came back and matched (echo: the stream; http: bodies)
  std::uint64_t bytes_lost = 0;      // owed by the server when a connection failed or the run ended
  std::uint64_t bytes_corrupt = 0;   // came back, but not the byte that was sent
  std::uint64_t bytes_discarded = 0;  // in flight when this client reset a connection (not owed)
  // connections and what was done with them
  std::uint64_t connects = 0;       // handshakes completed
  std::uint64_t messages = 0;       // echo: messages sent back in full
  std::uint64_t requests = 0;       // http: requests answered as due
  std::uint64_t pings = 0;          // http: of which GET /ping
  std::uint64_t closes = 0;         // ended by a plain close after every answer
  std::uint64_t half_closes = 0;    // ended by shutdown(SHUT_WR), then read to the server's end
  std::uint64_t server_closes = 0;  // http: ended by the server after `Connection: close`
  std::uint64_t resets_caused = 0;  // ended by this client: SO_LINGER 0, mid-stream
  std::uint64_t idle_periods = 0;   // nothing sent for a while between messages or batches
  std::uint64_t read_pauses = 0;    // nothing read for a while with bytes on their way back
  std::array<std::uint64_t, static_cast<std::size_t>(ErrorKind::count)> errors{};

  void error(ErrorKind k) { ++errors[static_cast<std::size_t>(k)]; }
  std::uint64_t errors_total() const {
    std::uint64_t n = 0;
    for (std::uint64_t e : errors) n += e;
    return n;
  }
};

}  // namespace weft::soak

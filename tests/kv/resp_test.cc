// The RESP2 parser and reply writers (examples/kv/resp.h): both command
// forms, every protocol error with redis-server's text, the limits, and
// input cut at every byte.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "examples/kv/resp.h"

using weft::kv::Command;
using weft::kv::Limits;
using weft::kv::parse_command;
using weft::kv::ParseResult;
using weft::kv::protocol_error_text;
using weft::kv::Reply;
using Kind = ParseResult::Kind;
using namespace std::string_literals;

namespace {

std::vector<std::string> args_of(const Command& c) { return {c.args.begin(), c.args.end()}; }

// The error text for `bytes`, or "" if they parse without one.
std::string error_of(std::string_view bytes, const Limits& limits = {}) {
  Command c;
  const ParseResult r = parse_command(bytes, c, limits);
  return r.kind == Kind::error ? protocol_error_text(r) : std::string();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(resp)

BOOST_AUTO_TEST_CASE(an_array_of_bulk_strings_is_one_command) {
  Command c;
  const std::string bytes = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\n\0z\r\nPING\r\n"s;
  const ParseResult r = parse_command(bytes, c);
  BOOST_REQUIRE(r.kind == Kind::command);
  BOOST_TEST(r.consumed == bytes.size() - 6);
  BOOST_TEST(args_of(c) == (std::vector<std::string>{"SET", "k", std::string("v\r\n\0z", 5)}),
             boost::test_tools::per_element());
  // The arguments view the caller's bytes.
  BOOST_TEST(c.args[0].data() == bytes.data() + 8);
}

BOOST_AUTO_TEST_CASE(every_prefix_of_a_command_needs_more) {
  const std::string bytes = "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    Command c;
    const ParseResult r = parse_command(std::string_view(bytes).substr(0, n), c);
    BOOST_TEST_INFO("prefix of " << n);
    BOOST_TEST((r.kind == Kind::need_more));
    BOOST_TEST(r.needed > n);
    BOOST_TEST(r.needed <= bytes.size());
  }
  Command c;
  BOOST_TEST((parse_command(bytes, c).kind == Kind::command));
}

BOOST_AUTO_TEST_CASE(a_known_bulk_length_says_how_much_is_needed) {
  Command c;
  const ParseResult r = parse_command("*1\r\n$100000\r\nabc", c);
  BOOST_REQUIRE(r.kind == Kind::need_more);
  BOOST_TEST(r.needed == 4u + 9u + 100000u + 2u);
}

BOOST_AUTO_TEST_CASE(an_empty_or_negative_array_is_a_command_without_arguments) {
  for (const char* s : {"*0\r\n", "*-1\r\n", "*-5\r\n"}) {
    Command c;
    const ParseResult r = parse_command(s, c);
    BOOST_TEST((r.kind == Kind::command));
    BOOST_TEST(r.consumed == std::string_view(s).size());
    BOOST_TEST(c.args.empty());
  }
}

BOOST_AUTO_TEST_CASE(the_protocol_errors_are_those_of_redis_server) {
  BOOST_TEST(error_of("*x\r\n") == "ERR Protocol error: invalid multibulk length");
  BOOST_TEST(error_of("*01\r\n") == "ERR Protocol error: invalid multibulk length");
  BOOST_TEST(error_of("*+1\r\n") == "ERR Protocol error: invalid multibulk length");
  BOOST_TEST(error_of("*\r\n") == "ERR Protocol error: invalid multibulk length");
  BOOST_TEST(error_of("*1048577\r\n") == "ERR Protocol error: invalid multibulk length");
  BOOST_TEST(error_of("*1\r\nx\r\n") == "ERR Protocol error: expected '$', got 'x'");
  BOOST_TEST(error_of("*2\r\n$1\r\na\r\n:1\r\n") == "ERR Protocol error: expected '$', got ':'");
  BOOST_TEST(error_of("*1\r\n$-1\r\n") == "ERR Protocol error: invalid bulk length");
  BOOST_TEST(error_of("*1\r\n$x\r\n") == "ERR Protocol error: invalid bulk length");
  BOOST_TEST(error_of("*1\r\n$536870913\r\n") == "ERR Protocol error: invalid bulk length");
  BOOST_TEST(error_of("set a \"b\r\n") == "ERR Protocol error: unbalanced quotes in request");
  BOOST_TEST(error_of("set a \"b\"c\r\n") == "ERR Protocol error: unbalanced quotes in request");
  BOOST_TEST(error_of("set a 'b\r\n") == "ERR Protocol error: unbalanced quotes in request");
  BOOST_TEST(error_of("set a 'b'c\r\n") == "ERR Protocol error: unbalanced quotes in request");
  // The largest accepted values are fine.
  BOOST_TEST(error_of("*1048576\r\n").empty());
  BOOST_TEST(error_of("*1\r\n$536870912\r\n").empty());
}

BOOST_AUTO_TEST_CASE(overlong_lines_are_errors_once_past_the_inline_limit) {
  const std::string line(64 << 10, 'a');
  BOOST_TEST(error_of(line).empty());  // at the limit: still waiting for its end
  BOOST_TEST(error_of(line + "a") == "ERR Protocol error: too big inline request");
  BOOST_TEST(error_of("*" + line) == "ERR Protocol error: too big mbulk count string");
  BOOST_TEST(error_of("*1\r\n$" + line) == "ERR Protocol error: too big bulk count string");
  // A whole line longer than the limit is a command (as redis-server takes it).
  Command c;
  const std::string whole = "echo " + line + "\r\n";
  BOOST_TEST((parse_command(whole, c).kind == Kind::command));
  BOOST_TEST(c.args.size() == 2u);
}

BOOST_AUTO_TEST_CASE(the_limits_are_configurable) {
  Limits small;
  small.max_args = 2;
  small.max_bulk = 3;
  small.max_inline = 10;
  BOOST_TEST(error_of("*3\r\n", small) == "ERR Protocol error: invalid multibulk length");
  BOOST_TEST(error_of("*2\r\n$4\r\n", small) == "ERR Protocol error: invalid bulk length");
  BOOST_TEST(error_of("*2\r\n$3\r\nabc\r\n", small).empty());
  BOOST_TEST(error_of("ping ping ping", small) == "ERR Protocol error: too big inline request");
}

BOOST_AUTO_TEST_CASE(inline_commands_split_at_spaces_and_resolve_quotes) {
  Command c;
  ParseResult r = parse_command("  set  key\t\"a b\\n\\x41\\\"\" 'it\\'s' x\"y z\"\r\nnext", c);
  BOOST_REQUIRE(r.kind == Kind::command);
  BOOST_TEST(args_of(c) == (std::vector<std::string>{"set", "key", "a b\nA\"", "it's", "xy z"}),
             boost::test_tools::per_element());
  BOOST_TEST(r.consumed == std::string_view("  set  key\t\"a b\\n\\x41\\\"\" 'it\\'s' x\"y z\"\r\n").size());
  // A bare LF ends a line too; an empty line is a command without arguments.
  r = parse_command("ping\nx", c);
  BOOST_TEST(r.consumed == 5u);
  BOOST_TEST(args_of(c) == (std::vector<std::string>{"ping"}), boost::test_tools::per_element());
  r = parse_command("\r\n", c);
  BOOST_TEST((r.kind == Kind::command));
  BOOST_TEST(c.args.empty());
  // Without its line end, an inline command waits.
  BOOST_TEST((parse_command("ping", c).kind == Kind::need_more));
  // A closing quote must end the argument.
  BOOST_TEST((parse_command("set a \"y z\"w\r\n", c).kind == Kind::error));
  // \x with one hex digit is not an escape: the backslash goes (as for any
  // other escaped character), the rest stays.
  r = parse_command("echo \"\\xZ1\"\n", c);
  BOOST_TEST(args_of(c) == (std::vector<std::string>{"echo", "xZ1"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(replies_are_written_in_resp2) {
  Reply r;
  r.simple("OK");
  r.error("ERR bad\r\nthing\n");
  r.integer(-42);
  r.bulk(std::string_view("a\0b", 3));
  r.null();
  r.array(2);
  r.bulk("");
  r.null_array();
  r.score(1.5);
  r.score(-std::numeric_limits<double>::infinity());
  r.score(1.1);
  BOOST_TEST(r.bytes() == std::string("+OK\r\n-ERR bad  thing\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n$0\r\n\r\n*-1\r\n"
                                      "$3\r\n1.5\r\n$4\r\n-inf\r\n$18\r\n1.1000000000000001\r\n",
                                      101));
}

BOOST_AUTO_TEST_SUITE_END()

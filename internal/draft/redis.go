package draft

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// redisServer is one Redis server as Mastodon reaches it.
type redisServer struct {
	url      string // without the password
	password string
	key      string // server and database, to tell servers apart
}

// redisFrom reads the Redis settings with the given prefix ("", "SIDEKIQ_"
// or "CACHE_") as Mastodon's lib/mastodon/redis_configuration.rb does: the
// URL, else host, port, password and database. ok is false when prefix is
// not "" and nothing is set: Mastodon then uses the main server.
func redisFrom(vars map[string]string, prefix string) (r redisServer, ok bool, err error) {
	p := prefix + "REDIS_"
	if raw := vars[p+"URL"]; raw != "" {
		if !utf8.ValidString(raw) {
			return r, false, fmt.Errorf("%sURL is not valid UTF-8", p)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			return r, false, fmt.Errorf("%sURL is not a redis://, rediss:// or unix:// URL", p)
		}
		if u.User != nil {
			r.password, _ = u.User.Password()
			if n := u.User.Username(); n != "" {
				u.User = url.User(n)
			} else {
				u.User = nil
			}
		}
		if u.Scheme != "unix" && strings.Trim(u.Path, "/") == "" {
			u.Path = "/0"
		}
		r.url = u.String()
		r.key = redisKey(u)
		return r, true, nil
	}
	if prefix != "" && vars[p+"HOST"] == "" {
		return r, false, nil
	}
	host, port, db := get(vars, p+"HOST", "localhost"), get(vars, p+"PORT", "6379"), get(vars, p+"DB", "0")
	if err := checkText(vars, p+"HOST", p+"USER"); err != nil {
		return r, false, err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return r, false, fmt.Errorf("%sPORT is not a port number", p)
	}
	if n, err := strconv.Atoi(db); err != nil || n < 0 {
		return r, false, fmt.Errorf("%sDB is not a database number", p)
	}
	u := &url.URL{Scheme: "redis", Host: net.JoinHostPort(host, port), Path: "/" + db}
	if n := vars[p+"USER"]; n != "" {
		u.User = url.User(n)
	}
	r.url, r.password, r.key = u.String(), vars[p+"PASSWORD"], redisKey(u)
	return r, true, nil
}

// redisKey names the server and database of u: TLS or not, and the user,
// do not make another server.
func redisKey(u *url.URL) string {
	if u.Scheme == "unix" {
		return "unix:" + u.Path + "?" + u.Query().Get("db")
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	db := strings.Trim(u.Path, "/")
	if n, err := strconv.Atoi(db); err == nil {
		db = strconv.Itoa(n)
	}
	if db == "" {
		db = "0"
	}
	return strings.ToLower(u.Hostname()) + ":" + port + "/" + db
}

// mastodonRedis writes the redis list: the main server, and Sidekiq's and
// the cache's when they are another server or database. Sidekiq's holds
// the job queues and is backed up; the cache is only a cache, rebuilt on
// use, so its entry is written commented out.
func mastodonRedis(b *doc, d *Draft, vars map[string]string) error {
	main, _, err := redisFrom(vars, "")
	if err != nil {
		return err
	}
	b.WriteString("\nredis:                              # from REDIS_* in .env.production\n")
	redisEntry(b, d, "main", "REDIS_PASSWORD", "redis.pass", main, "")
	seen := map[string]bool{main.key: true}
	for _, x := range []struct{ prefix, name string }{{"SIDEKIQ_", "sidekiq"}, {"CACHE_", "cache"}} {
		r, ok, err := redisFrom(vars, x.prefix)
		if err != nil {
			return err
		}
		if !ok || seen[r.key] {
			continue // Mastodon keeps these keys in a server already listed
		}
		seen[r.key] = true
		if x.name == "cache" {
			redisCache(b, d, r)
			continue
		}
		redisEntry(b, d, x.name, x.prefix+"REDIS_PASSWORD", "redis-sidekiq.pass", r, "  # Sidekiq's queues and scheduled jobs (SIDEKIQ_REDIS_*)\n")
	}
	return nil
}

func redisEntry(b *doc, d *Draft, name, env, file string, r redisServer, comment string) {
	b.WriteString(comment)
	b.line("  - name: "+name, "")
	b.line("    url: "+quote(r.url), "rediss:// for TLS, unix:///run/redis/redis.sock")
	if r.password != "" {
		b.line("    password_file: "+d.addSecret(file, "Redis "+name+" password", r.password), env+", chmod 600")
	}
	d.Found = append(d.Found, fmt.Sprintf("%-11s %s", "Redis "+name, r.url))
}

// redisCache writes the cache's entry commented out, its password file
// left for the admin to write.
func redisCache(b *doc, d *Draft, r redisServer) {
	b.WriteString("  # CACHE_REDIS_* names another server: Rails' cache, rebuilt on use, so not\n" +
		"  # backed up. Uncomment to back it up anyway")
	if r.password != "" {
		b.WriteString(", and write its password into redis-cache.pass (chmod 600)")
	}
	b.WriteString(".\n")
	fmt.Fprintf(b, "  # - name: cache\n  #   url: %s\n", quote(r.url))
	if r.password != "" {
		b.WriteString("  #   password_file: redis-cache.pass\n")
	}
	d.Found = append(d.Found, fmt.Sprintf("%-11s %s (left commented out: only a cache)", "Redis cache", r.url))
}

/*
 * delayline: an Ethernet wire between two interfaces of one network namespace that adds, per
 * direction, a one-way delay, jitter and random loss. The lab's kernels have no netem qdisc
 * (docs/testing.md, "The delay line"), so this forwards in userspace.
 *
 * Usage: delayline [-l BYTES] [-s SEED] PARAMS_FILE IFA IFB
 *   -l BYTES  queue limit per direction (default 33554432, 32 MiB): a frame that would make the
 *             queue hold more is dropped at arrival and counted as qdrop.
 *   -s SEED   seed of the loss and jitter draws (default: from getrandom).
 *
 * PARAMS_FILE, one line per direction ("ab": frames received on IFA, sent on IFB; "ba": back):
 *   ab delay=30 jitter=5 loss=10
 *   ba delay=30
 * delay and jitter in ms, loss in percent, decimals allowed, a missing key is 0, '#' starts a
 * comment. Each frame's delay is drawn uniformly from [delay - jitter, delay + jitter] (not below
 * 0). A frame is never sent before the one that arrived before it in the same direction (release =
 * max(previous release, arrival + drawn delay)), like a link's queue: dense traffic with jitter
 * therefore waits more than the drawn delay on average. Each frame is lost with probability
 * loss/100, independently. A frame is whatever the kernel hands over: with GSO/TSO a frame of up to
 * 64 KiB carries several TCP segments, and is delayed or lost as one.
 *
 * Control while running: write a new PARAMS_FILE (write another file, rename it over) and send
 * SIGHUP: new frames get the new parameters, frames already queued keep their release times. A
 * file that does not parse at reload is reported and the old parameters stay. SIGUSR1 prints the
 * counters; SIGTERM or SIGINT drops what is queued, prints the counters and exits 0.
 *
 * Output, on stderr, one line each: start, each reload, each SIGUSR1, exit, and fatal errors
 * (exit 1; exit 2 for bad arguments or a bad PARAMS_FILE at start). Counters line:
 *   delayline: stats ab rx=N rxbytes=N tx=N lost=N qdrop=N txerr=N kdrop=N trunc=N gso=N queued=N | ba ...
 * rx: frames received; lost: random loss; qdrop: queue full; txerr: the send failed (the peer's
 * backlog full); kdrop: dropped by the kernel before this program read them (socket buffer full);
 * trunc: larger than the 256 KiB buffer; gso: frames that carried several segments; queued: frames
 * in the queue now (in the last line, those the exit dropped).
 *
 * The sockets: AF_PACKET raw, bound to each interface, promiscuous, with PACKET_VNET_HDR so that
 * GSO frames and frames whose checksum is left to offload (CHECKSUM_PARTIAL, as on veth) are sent
 * on exactly as they came; without it a locally sent TCP segment would go out with its checksum
 * unfinished and be dropped by the receiver. Frames this program sent itself (PACKET_OUTGOING) are
 * not read back. Not carried: an 802.1Q tag that the kernel keeps beside the frame (VLAN offload,
 * as veth does) instead of in it; the lab has no VLANs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define RXBUF (256 * 1024)
#define BATCH 256

struct params {
	double delay_ms, jitter_ms, loss_pct;
};

struct frame {
	struct frame *next;
	uint64_t due_ns;
	uint32_t len;
	unsigned char data[];
};

struct dir {
	const char *name;
	int in, out;
	struct params p;
	struct frame *head, *tail;
	uint64_t last_due_ns;
	size_t qbytes, qlen;
	unsigned long long rx, rxbytes, tx, lost, qdrop, txerr, kdrop, trunc, gso;
};

static volatile sig_atomic_t got_hup, got_usr1, got_term;
static uint64_t rng_state;
static size_t qlimit = 32u << 20;
static const char *params_path;
static unsigned char rxbuf[RXBUF];

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("delayline: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void on_signal(int sig)
{
	if (sig == SIGHUP) got_hup = 1;
	else if (sig == SIGUSR1) got_usr1 = 1;
	else got_term = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: fast, and good enough for loss and jitter draws. */
static double uniform01(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	z ^= z >> 31;
	return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Parses PARAMS_FILE into ab and ba; on error says why and returns -1, leaving them unchanged. */
static int read_params(struct params *ab, struct params *ba)
{
	FILE *f = fopen(params_path, "r");
	if (!f) {
		say("%s: %s", params_path, strerror(errno));
		return -1;
	}
	struct params n[2] = {{0, 0, 0}, {0, 0, 0}};
	char line[512];
	int lineno = 0, bad = 0;
	while (!bad && fgets(line, sizeof line, f)) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash) *hash = 0;
		char *save, *tok = strtok_r(line, " \t\r\n", &save);
		if (!tok) continue;
		struct params *p = !strcmp(tok, "ab") ? &n[0] : !strcmp(tok, "ba") ? &n[1] : NULL;
		if (!p) {
			say("%s:%d: direction must be ab or ba, not '%s'", params_path, lineno, tok);
			bad = 1;
			break;
		}
		while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
			char *eq = strchr(tok, '='), *end;
			double v = eq ? strtod(eq + 1, &end) : 0;
			double *slot = NULL, max = 600000;
			if (eq && !strncmp(tok, "delay=", 6)) slot = &p->delay_ms;
			else if (eq && !strncmp(tok, "jitter=", 7)) slot = &p->jitter_ms;
			else if (eq && !strncmp(tok, "loss=", 5)) slot = &p->loss_pct, max = 100;
			if (!slot || end == eq + 1 || *end || !(v >= 0 && v <= max)) {
				say("%s:%d: '%s' is not delay=MS, jitter=MS or loss=PERCENT (0 to %g)", params_path, lineno, tok, max);
				bad = 1;
				break;
			}
			*slot = v;
		}
	}
	fclose(f);
	if (bad) return -1;
	*ab = n[0];
	*ba = n[1];
	return 0;
}

static void say_params(const char *what, struct dir *d)
{
	say("%s: ab delay=%g jitter=%g loss=%g | ba delay=%g jitter=%g loss=%g", what,
	    d[0].p.delay_ms, d[0].p.jitter_ms, d[0].p.loss_pct, d[1].p.delay_ms, d[1].p.jitter_ms, d[1].p.loss_pct);
}

static void collect_kernel_drops(struct dir *d)
{
	struct tpacket_stats st;
	socklen_t len = sizeof st;
	/* The kernel resets these counters on each read. */
	if (getsockopt(d->in, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) d->kdrop += st.tp_drops;
}

static void say_stats(struct dir *d)
{
	char s[2][300];
	for (int i = 0; i < 2; i++) {
		collect_kernel_drops(&d[i]);
		snprintf(s[i], sizeof s[i], "%s rx=%llu rxbytes=%llu tx=%llu lost=%llu qdrop=%llu txerr=%llu kdrop=%llu trunc=%llu gso=%llu queued=%llu",
			 d[i].name, d[i].rx, d[i].rxbytes, d[i].tx, d[i].lost, d[i].qdrop, d[i].txerr, d[i].kdrop, d[i].trunc, d[i].gso, (unsigned long long)d[i].qlen);
	}
	say("stats %s | %s", s[0], s[1]);
}

static int open_port(const char *ifname)
{
	unsigned ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		say("%s: %s", ifname, strerror(errno));
		exit(1);
	}
	/* Protocol 0 until bound: no frame of another interface is queued before bind. */
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, buf = 4 << 20;
	struct packet_mreq mr = {.mr_ifindex = (int)ifindex, .mr_type = PACKET_MR_PROMISC};
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex};
	if (fd < 0 || setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) ||
	    setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof sll)) {
		say("%s: packet socket: %s", ifname, strerror(errno));
		exit(1);
	}
	/* Older kernels lack it; the PACKET_OUTGOING check in receive() covers them. */
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
	/* Room for a few ms of line rate while this process waits for a CPU (root may force it). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf)) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf)) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
	return fd;
}

/* Reads what is waiting on d->in (at most BATCH frames) into d's queue. */
static void receive(struct dir *d)
{
	for (int i = 0; i < BATCH; i++) {
		struct sockaddr_ll from;
		socklen_t fromlen = sizeof from;
		ssize_t n = recvfrom(d->in, rxbuf, sizeof rxbuf, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR) continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) return;
			say("%s: receive: %s", d->name, strerror(errno));
			exit(1);
		}
		if (from.sll_pkttype == PACKET_OUTGOING) continue;
		d->rx++;
		d->rxbytes += (size_t)n > sizeof(struct virtio_net_hdr) ? (size_t)n - sizeof(struct virtio_net_hdr) : 0;
		if ((size_t)n > sizeof rxbuf) {
			d->trunc++;
			continue;
		}
		if (((struct virtio_net_hdr *)rxbuf)->gso_type != VIRTIO_NET_HDR_GSO_NONE) d->gso++;
		if (d->p.loss_pct > 0 && uniform01() * 100 < d->p.loss_pct) {
			d->lost++;
			continue;
		}
		if (d->qbytes + (size_t)n > qlimit) {
			d->qdrop++;
			continue;
		}
		struct frame *f = malloc(sizeof *f + (size_t)n);
		if (!f) {
			d->qdrop++;
			continue;
		}
		double ms = d->p.delay_ms + (d->p.jitter_ms > 0 ? (2 * uniform01() - 1) * d->p.jitter_ms : 0);
		uint64_t due = now_ns() + (ms > 0 ? (uint64_t)(ms * 1e6) : 0);
		if (due < d->last_due_ns) due = d->last_due_ns;
		d->last_due_ns = due;
		f->next = NULL;
		f->due_ns = due;
		f->len = (uint32_t)n;
		memcpy(f->data, rxbuf, (size_t)n);
		if (d->tail) d->tail->next = f;
		else d->head = f;
		d->tail = f;
		d->qbytes += (size_t)n;
		d->qlen++;
	}
}

/* Sends the frames due by `now`; returns the next release time, 0 when the queue is empty. */
static uint64_t release(struct dir *d, uint64_t now)
{
	struct frame *f;
	while ((f = d->head) && f->due_ns <= now) {
		ssize_t n;
		do n = send(d->out, f->data, f->len, MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == ENETDOWN || errno == ENXIO || errno == ENODEV) {
				say("%s: send: %s (interface gone?)", d->name, strerror(errno));
				exit(1);
			}
			/* A full peer backlog or socket buffer: lost, as on a wire whose receiver is busy. */
			d->txerr++;
		} else {
			d->tx++;
		}
		d->head = f->next;
		if (!d->head) d->tail = NULL;
		d->qbytes -= f->len;
		d->qlen--;
		free(f);
	}
	return f ? f->due_ns : 0;
}

static void free_queue(struct dir *d)
{
	while (d->head) {
		struct frame *f = d->head;
		d->head = f->next;
		free(f);
	}
	d->tail = NULL;
	d->qbytes = d->qlen = 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: delayline [-l BYTES] [-s SEED] PARAMS_FILE IFA IFB\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int opt, seeded = 0;
	char *end;
	while ((opt = getopt(argc, argv, "l:s:")) != -1) {
		if (opt == 'l') {
			qlimit = strtoull(optarg, &end, 10);
			if (*end || qlimit < 65536) usage();
		} else if (opt == 's') {
			rng_state = strtoull(optarg, &end, 10);
			if (*end) usage();
			seeded = 1;
		} else {
			usage();
		}
	}
	if (argc - optind != 3) usage();
	params_path = argv[optind];
	const char *ifa = argv[optind + 1], *ifb = argv[optind + 2];
	if (!seeded && getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state) rng_state = now_ns() ^ (uint64_t)getpid();

	struct dir d[2] = {{.name = "ab"}, {.name = "ba"}};
	if (read_params(&d[0].p, &d[1].p)) return 2;

	/* Signals are blocked except inside ppoll, so a flag set by a handler is seen before the next wait. */
	static const int sigs[] = {SIGHUP, SIGUSR1, SIGTERM, SIGINT};
	sigset_t block, waitmask;
	sigemptyset(&block);
	for (size_t s = 0; s < sizeof sigs / sizeof sigs[0]; s++) {
		struct sigaction sa = {.sa_handler = on_signal};
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[s], &sa, NULL);
		sigaddset(&block, sigs[s]);
	}
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	/* The default 50 us slack would add itself to every release. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

	int fa = open_port(ifa), fb = open_port(ifb);
	d[0].in = fa, d[0].out = fb;
	d[1].in = fb, d[1].out = fa;
	setvbuf(stderr, NULL, _IOLBF, 0);
	say("forwarding %s <-> %s, queue limit %zu bytes per direction, pid %d", ifa, ifb, qlimit, (int)getpid());
	say_params("params", d);

	struct pollfd pfd[2] = {{.fd = fa, .events = POLLIN}, {.fd = fb, .events = POLLIN}};
	while (!got_term) {
		if (got_hup) {
			got_hup = 0;
			if (read_params(&d[0].p, &d[1].p) == 0) say_params("reloaded", d);
			else say("reload failed, parameters unchanged");
		}
		if (got_usr1) {
			got_usr1 = 0;
			say_stats(d);
		}
		uint64_t now = now_ns(), next = 0;
		for (int i = 0; i < 2; i++) {
			uint64_t due = release(&d[i], now);
			if (due && (!next || due < next)) next = due;
		}
		struct timespec ts, *tsp = NULL;
		if (next) {
			uint64_t wait = next > now ? next - now : 0;
			ts.tv_sec = (time_t)(wait / 1000000000u);
			ts.tv_nsec = (long)(wait % 1000000000u);
			tsp = &ts;
		}
		if (ppoll(pfd, 2, tsp, &waitmask) < 0) {
			if (errno == EINTR) continue;
			say("poll: %s", strerror(errno));
			return 1;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
				int err = 0;
				socklen_t len = sizeof err;
				getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
				say("%s: %s (interface gone?)", i ? ifb : ifa, err ? strerror(err) : "socket error");
				return 1;
			}
			if (pfd[i].revents & POLLIN) receive(&d[i]);
		}
	}
	/* The last counters first: their queued= is what the exit drops. */
	say_stats(d);
	free_queue(&d[0]);
	free_queue(&d[1]);
	say("stopped");
	return 0;
}

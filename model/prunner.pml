/*
 * prunner.pml - a Promela model of prunner's worker loop, checked with SPIN.
 *
 * What it models, step by step as in the C code (docs/design.md, section 10,
 * maps every step below onto the C statement it stands for):
 *
 *   - posting from a worker (worker.c: pr_post_local): count in `posted`,
 *     push on the own deque, then pr_sleep_notify;
 *   - posting from outside the pool (runner.c: post_outside): ext_posted,
 *     read the run state, push on the injector and notify, or give the
 *     count back on ext_finished and run the check;
 *   - the worker loop (worker.c: worker_main, find_task, take_injected,
 *     steal, run_task): own deque, injector batch, steal with retries;
 *     the idle flag and the check as soon as a search fails; the spin
 *     phase; the sleep protocol W1..W5 with its re-check; shutdown;
 *   - the sleep set (idle.c): prepare / cancel / wait / notify / wake /
 *     notify_all;
 *   - termination (idle.c: pr_try_terminate, confirm_end, finish_run;
 *     COUNTER: pr_counter_release), with the begin token (runner.c:
 *     run_start, return_token);
 *   - EXEC: the executor (runner.c: prunner_open, prunner_wait_idle,
 *     prunner_close) with the quiet tickets (idle.c: pr_signal_quiet);
 *   - GROUP: fork-join groups (future.c: prunner_group_spawn,
 *     prunner_group_wait, pr_group_child_done) and the helping wait
 *     (worker.c: pr_help_until), with nested task runs on a per-worker
 *     stack of frames.
 *
 * SPIN explores every interleaving under sequential consistency; each
 * `atomic` block below holds at most one access to shared memory (or one
 * critical section of a mutex), so a step of the model is one atomic step
 * of the C code.  The few blocks that join two accesses say why that is
 * sound where they are (docs/design.md 10.4 lists them).  The deques are
 * abstracted: a pop is one atomic step, a steal one step (STEAL2: two, the
 * load of top, then bottom + the CAS on top, so that a steal fails with
 * ABORT exactly when another take won the CAS).  Chase-Lev's own
 * linearizability is tested by tests/test_deque.c, not here.
 *
 * Configuration (spin -DNAME=VALUE):
 *   NW       workers (2 or 3)
 *   NT       tasks in the tree: task i has children 2i+1 and 2i+2 below NT;
 *            task 0, the root, is posted by begin (from outside the pool)
 *   OUTSIDE  1: a program thread posts one more task (id NT) at any time;
 *            2: the caller of prunner_run posts it, after returning the
 *            token (the same race with the end, one process fewer)
 *   SPINS    searches in the spin phase (C: PR_SPIN_ROUNDS, 64)
 *   RETRIES  attempts on one victim (C: PR_STEAL_RETRIES, 4), with STEAL2
 *   STEAL2   1: a steal is two steps and can ABORT (default: one step)
 *   COUNTER  1: termination by the shared `pending` counter
 *   EXEC     1: executor closed with DRAIN, 2: with CANCEL
 *   WAITIDLE 1 (default with EXEC): prunner_wait_idle before the close
 *   GROUP    1: every task with children spawns them into a group and
 *            waits for it with the helping wait
 *   LIVENESS 1: add the LTL formula run_ends (check with pan -a -f)
 *
 * Broken variants (each must give a counterexample):
 *   BROKEN_ONE_SWEEP     the detector reads finished[i] and posted[i] of
 *                        each worker together, in one sweep
 *   BROKEN_POSTED_FIRST  the detector sweeps posted before finished
 *   BROKEN_NO_RECHECK    a worker sleeps without searching again after
 *                        joining the sleeper set (no W3)
 *   BROKEN_NO_CONFIRM    the end is not confirmed (no CLOSING, no re-read
 *                        of ext_posted)
 *   BROKEN_PUSH_FIRST    pr_post_local pushes before counting in posted
 *   BROKEN_IDLE_LATE     a worker runs the check before setting its flag
 *   BROKEN_TICKET_LATE   (EXEC) the detector reads quiet_ticket after its
 *                        sweep instead of before
 *   BROKEN_GROUP_UNIT    (GROUP) the owner drops its unit before it
 *                        registers as the group's waiter
 *   WEAK_WAKE            (GROUP) not a change of the C code but a weak
 *                        execution of it that C11 allows: the completing
 *                        child's load of in_set_hint takes effect before
 *                        its exchange of the group's waiter word is
 *                        visible (docs/design.md, section 10.5)
 */

#ifndef NW
#define NW 2
#endif
#ifndef NT
#define NT 7
#endif
#ifndef OUTSIDE
#define OUTSIDE 0
#endif
#ifndef SPINS
#define SPINS 1
#endif
#ifndef RETRIES
#define RETRIES 4
#endif
#ifndef COUNTER
#define COUNTER 0
#endif
#ifndef EXEC
#define EXEC 0
#endif
#ifndef GROUP
#define GROUP 0
#endif
#ifndef STEAL2
#define STEAL2 0
#endif
#ifndef WAITIDLE
#define WAITIDLE 1
#endif

#if NW < 2 || NW > 3
#error "NW must be 2 or 3"
#endif
#if GROUP && EXEC
#error "GROUP and EXEC are checked separately"
#endif
#if EXEC && OUTSIDE == 2
#error "with EXEC the outside poster is a process of its own (OUTSIDE=1)"
#endif

#if OUTSIDE
#define NTASK (NT + 1)  /* the tree, plus the outside poster's task */
#else
#define NTASK NT
#endif
#define NONE 255              /* no task */

/* run_state (internal.h: PR_RUN_ACTIVE, PR_RUN_CLOSING, PR_RUN_GEN_ONE) */
#define ACTIVE 1
#define CLOSING 2
#define GEN_ONE 4

/* closed (runner.c: prunner_close stores mode + 1) */
#define CLOSE_DRAIN 1
#define CLOSE_CANCEL 2

/* gwaiter: 0 = NULL, w + 1 = worker w's waiter, GROUP_DONE = PR_GROUP_DONE */
#define GROUP_DONE 255

/* ------------------------------------------------------------------------ */
/* Shared state                                                             */
/* ------------------------------------------------------------------------ */

/* deque.c: a Chase-Lev deque; elements in [top, bot).  top only grows
 * (except that an empty deque goes back to 0: RESET_IF_EMPTY).  At most
 * NTASK pushes ever go to one deque, so NTASK slots suffice. */
typedef deque {
	byte slot[NTASK];
	byte top;
	byte bot
};
deque dq[NW];

/* injector.c: FIFO under its mutex; len(inj) is injector.len */
chan inj = [NTASK] of { byte };

/* worker counters (internal.h: struct pr_worker), written by the owner */
byte posted[NW];
byte finished[NW];
bool idle[NW];

/* runner counters (internal.h: struct prunner) */
byte ext_posted;
byte ext_finished;
byte run_state;
#if COUNTER
byte pending;
#endif
bool done;      /* r->done under done_lock: wakes the caller of prunner_run */
bool shutdown;  /* r->shutdown */

/* idle.c: the sleeper set.  in_set[w] is sleeper w's in_set (and, being
 * written in the same critical sections, its in_set_hint); nsleepers is
 * the number of sleepers in the set, changed with it under the lock. */
bool in_set[NW];
#if NW == 2
#define NSLEEPERS (in_set[0] + in_set[1])
#else
#define NSLEEPERS (in_set[0] + in_set[1] + in_set[2])
#endif

#if EXEC
byte closed;
byte held_tokens;
byte quiet_ticket;
byte quiet_waiters;
byte quiet_done;
#endif

#if GROUP
/* future.c: struct pr_group, one per task with children */
byte gpend[NT];   /* pending children + the owner's unit */
byte gwaiter[NT]; /* 0, w + 1, or GROUP_DONE */
#define DEPTH NT  /* nested task runs on one worker: at most every task */
#endif

/* ---- ghost state: what the properties talk about; the C code has none -- */
bool accepted[NTASK];  /* the post of this task returned 0 (it is queued) */
bool taken[NTASK];     /* a worker took it from a queue (asserted once) */
bool completed[NTASK]; /* its worker published finished + 1 */
byte live;             /* accepted and not completed, plus held tokens */
byte queued;           /* tasks in the injector and the deques */
byte notif;            /* posters between publishing and the end of notify */
bool asleep[NW];       /* worker committed to W5 (waiting on its condvar) */
bool over;             /* finish_run ran: the run was declared over */
byte nexited;          /* workers that left worker_main */

#if NW == 2
#define ALL_ASLEEP (asleep[0] && in_set[0] && asleep[1] && in_set[1])
#else
#define ALL_ASLEEP (asleep[0] && in_set[0] && asleep[1] && in_set[1] && asleep[2] && in_set[2])
#endif
/* A lost wake-up: a task is queued, every worker sleeps in the set, and no
 * poster is still on its way to wake one. */
#define LOST_WAKEUP (queued > 0 && notif == 0 && ALL_ASLEEP)

/* ------------------------------------------------------------------------ */
/* Sleeping and waking (idle.c, idle.h)                                     */
/* ------------------------------------------------------------------------ */

/* pr_sleep_prepare: W1 (lock; join; nsleepers += 1; unlock) and the W2
 * fence, which SC gives for free. */
inline sleep_prepare() {
	atomic { in_set[me] = 1 }
}

/* pr_sleep_cancel: W4 (lock; leave the set if still in it; unlock). */
inline sleep_cancel() {
	atomic { in_set[me] = 0 }
}

/* pr_sleep_wait: W5 (lock; wait on own condvar while in the set; unlock).
 * The caller sets asleep[me] (ghost) in its step before. */
inline sleep_wait() {
	atomic { !in_set[me] -> asleep[me] = 0 }
}

/* pr_sleep_notify: P2 fence + P3 load of nsleepers; P4 (notify_slow):
 * lock; take one sleeper out of the set (the C code takes the most recent
 * one; the model lets SPIN choose any); signal; unlock. */
inline notify() {
	if
	:: atomic { NSLEEPERS == 0 -> notif-- }
	:: atomic { NSLEEPERS != 0 -> skip };
		atomic {
			if
			:: in_set[0] -> in_set[0] = 0
			:: in_set[1] -> in_set[1] = 0
#if NW > 2
			:: in_set[2] -> in_set[2] = 0
#endif
			:: else -> skip /* every counted sleeper left through W4 */
			fi;
			notif--
		}
	fi
}

/* pr_sleep_wake(s, w): load in_set_hint (seq_cst); if set: lock; leave
 * the set if still in it; signal; unlock. */
inline sleep_wake(w) {
	if
	:: atomic { !in_set[w] -> skip }
	:: atomic { in_set[w] -> skip };
		atomic { in_set[w] = 0 }
	fi
}

/* ------------------------------------------------------------------------ */
/* Termination (idle.c)                                                     */
/* ------------------------------------------------------------------------ */

#if EXEC
/* pr_signal_quiet(r, tk): load quiet_waiters; if any: lock quiet_lock;
 * raise quiet_done to tk; broadcast; unlock. */
inline signal_quiet(tk) {
	if
	:: atomic { quiet_waiters == 0 -> skip }
	:: atomic { quiet_waiters != 0 -> skip };
		atomic { if :: tk > quiet_done -> quiet_done = tk :: else fi }
	fi
}
#endif

/* finish_run: the new generation, inactive; then done = true under
 * done_lock with a broadcast (and the quiet waiters). */
inline finish_run() {
	atomic {
		run_state = (s & ~(ACTIVE | CLOSING)) + GEN_ONE;
		over = 1;
		/* the run ends only if nothing is pending */
		assert(live == 0 && queued == 0)
	};
#if EXEC
	atomic { ticket = quiet_ticket };
#endif
	done = 1;
#if EXEC
	signal_quiet(ticket);
#endif
	skip
}

/* The detector's own flag and counters, read by a worker in its check.
 * Only their owner writes them, so a load of them commutes with every step
 * of the other processes: the model folds it into the detector's first load
 * of the same group (state, F, P) instead of giving it a step of its own.
 * Main and the poster have me == NONE: they own no flag or counter. */
#define OWN_IDLE (me >= NW || idle[me])
#define OWN(x) (me < NW -> x[me] : 0)
#define OTHER(k) (k < NW && k != me)

/* pr_try_terminate (flags mode).  Locals of the calling process: me, s, i,
 * F, P, ext, ok (and ticket, held with EXEC). */
inline try_terminate() {
	do
	::
#if EXEC && !defined(BROKEN_TICKET_LATE)
		atomic { ticket = quiet_ticket };
#endif
		/* 1. the run is ACTIVE, not CLOSING */
		atomic { s = run_state; ok = OWN_IDLE };
		if
		:: (s & (ACTIVE | CLOSING)) != ACTIVE || !ok -> break
		:: else -> ok = 0
		fi;
		/* 2. every idle flag is set */
		i = 0;
		do
		:: i == me -> i++
		:: OTHER(i) && idle[i] -> i++
		:: else -> break
		od;
		if
		:: i < NW -> break
		:: else -> i = 0
		fi;
		/* 3. F = ext_finished + sum finished[i], then P = ext_posted +
		 * sum posted[i] (each a seq_cst load) */
#if defined(BROKEN_ONE_SWEEP)
		atomic { F = ext_finished + OWN(finished) };
		atomic { ext = ext_posted; P = ext + OWN(posted) };
		do
		:: i == me -> i++
		:: OTHER(i) ->
			atomic { F = F + finished[i] };
			atomic { P = P + posted[i]; i++ }
		:: else -> break
		od;
#elif defined(BROKEN_POSTED_FIRST)
		atomic { ext = ext_posted; P = ext + OWN(posted) };
		do
		:: i == me -> i++
		:: OTHER(i) -> atomic { P = P + posted[i]; i++ }
		:: else -> break
		od;
		atomic { F = ext_finished + OWN(finished); i = 0 };
		do
		:: i == me -> i++
		:: OTHER(i) -> atomic { F = F + finished[i]; i++ }
		:: else -> break
		od;
#else
		atomic { F = ext_finished + OWN(finished) };
		do
		:: i == me -> i++
		:: OTHER(i) -> atomic { F = F + finished[i]; i++ }
		:: else -> break
		od;
		atomic { ext = ext_posted; P = ext + OWN(posted); i = 0 };
		do
		:: i == me -> i++
		:: OTHER(i) -> atomic { P = P + posted[i]; i++ }
		:: else -> break
		od;
#endif
		i = 0;
#if EXEC && defined(BROKEN_TICKET_LATE)
		atomic { ticket = quiet_ticket };
#endif
		/* 4. F == P: confirm, else (EXEC) maybe a quiet instant */
		if
		:: F != P ->
#if EXEC
			atomic { held = held_tokens };
			if
			:: held > 0 && F + held == P -> signal_quiet(ticket)
			:: else
			fi;
#endif
			break
		:: else
		fi;
#ifdef BROKEN_NO_CONFIRM
		finish_run();
		break
#else
		/* confirm_end: D1 CAS run_state: s -> s | CLOSING */
		atomic {
			if
			:: run_state == s -> run_state = s | CLOSING; ok = 1
			:: else -> ok = 0
			fi
		};
		if
		:: !ok -> break
		:: else
		fi;
		/* D2 still_quiet: ext_posted unchanged? */
		if
		:: atomic { ext_posted == ext -> ok = 0 };
			finish_run(); /* D3 */
			break
		:: atomic { ext_posted != ext -> ok = 0 };
			run_state = s /* D4: re-open, and check again */
		fi
#endif
	od;
	atomic { s = 0; F = 0; P = 0; ext = 0; ok = 0; i = 0 }
}

#if COUNTER
/* pr_counter_release: one unit of `pending` drops; whoever brings it to
 * zero confirms (with counter_zero as still_quiet) and ends the run.
 * Locals: s, ok, left (and ticket, held, later with EXEC). */
inline counter_release() {
#if EXEC
	atomic { ticket = quiet_ticket };
#endif
	atomic { pending--; left = pending };
	if
	:: left != 0 ->
#if EXEC
		atomic { held = held_tokens };
		if
		:: held > 0 && left == held ->
			do
			::
				signal_quiet(ticket);
				atomic { later = quiet_ticket };
				if
				:: later == ticket -> break
				:: else
				fi;
				if
				:: atomic { pending != held -> skip }; break
				:: atomic { pending == held -> ticket = later }
				fi
			od
		:: else
		fi;
#endif
		skip
	:: else ->
		do
		::
			atomic { s = run_state };
			if
			:: (s & (ACTIVE | CLOSING)) != ACTIVE -> break
			:: else
			fi;
			if
			:: atomic { pending != 0 -> skip }; break
			:: atomic { pending == 0 -> skip }
			fi;
			atomic {
				if
				:: run_state == s -> run_state = s | CLOSING; ok = 1
				:: else -> ok = 0
				fi
			};
			if
			:: !ok -> break
			:: else
			fi;
			if
			:: atomic { pending == 0 -> skip };
				finish_run();
				break
			:: atomic { pending != 0 -> skip };
				run_state = s
			fi
		od
	fi;
	atomic { s = 0; ok = 0; left = 0 }
}
#define CHECK() counter_release()
#else
#define CHECK() try_terminate()
#endif

/* ------------------------------------------------------------------------ */
/* Posting                                                                  */
/* ------------------------------------------------------------------------ */

/* runner.c: post_outside(c).  O1 count, O2 read the state, O3 push to the
 * injector and notify, or give the count back and run the check. */
inline post_outside(c) {
#if COUNTER
	atomic { pending++ };
#endif
	atomic { ext_posted++ };   /* O1 */
	atomic { s = run_state };  /* O2 */
#if EXEC
	if
	:: (s & (ACTIVE | CLOSING)) == ACTIVE -> atomic { ok = (closed == 0) }
	:: else -> ok = 0
	fi;
#else
	ok = ((s & (ACTIVE | CLOSING)) == ACTIVE);
#endif
	if
	:: ok ->
		/* lock injector; pr_injector_push_locked (len: seq_cst); unlock */
		atomic {
			ok = 0;
			inj!c;
			queued++; live++; accepted[c] = 1; notif++
		};
		notify()
	:: else ->
		/* refused: balance the count on the finished side, then check */
		atomic { ext_finished++ };
		CHECK()
	fi;
	atomic { s = 0; ok = 0 }
}

/* worker.c: pr_post_local(me, c) (a task of the runner posting). */
inline post_local(c) {
#if EXEC
	/* pr_post: during a CANCEL close a task of the runner cannot post */
	atomic { ok = (closed == CLOSE_CANCEL) };
	if
	:: ok -> ok = 0
	:: else ->
#endif
#if COUNTER
		atomic { pending++ };
#endif
#ifdef BROKEN_PUSH_FIRST
		atomic { dq[me].slot[dq[me].bot] = c; dq[me].bot++; queued++; live++; accepted[c] = 1; notif++ };
		atomic { posted[me]++ };
#else
		/* count first (release store of posted) ... */
		atomic { posted[me]++ };
		/* ... then push (release store of bottom) */
		atomic { dq[me].slot[dq[me].bot] = c; dq[me].bot++; queued++; live++; accepted[c] = 1; notif++ };
#endif
		notify()
#if EXEC
	fi
#endif
}

/* ------------------------------------------------------------------------ */
/* Finding work (worker.c: find_task, take_injected, steal)                 */
/* ------------------------------------------------------------------------ */

inline take(x) {
	/* exactly once: no task is taken twice; and none after the end */
	assert(!taken[x] && !over); taken[x] = 1; queued--
}

#if STEAL2
#define RESET_IF_EMPTY(q) skip
#else
/* With one-step steals no thief holds an index between steps, so an empty
 * deque's indices can go back to 0: states that differ only in how many
 * tasks a deque held before it emptied are the same state. */
#define RESET_IF_EMPTY(q) if :: dq[q].top == dq[q].bot -> dq[q].top = 0; dq[q].bot = 0 :: else fi
#endif

/* The first step of find_task: pr_deque_pop on the own deque (one atomic
 * step: Chase-Lev's pop is linearizable); if the deque is empty, then
 * take_injected: the relaxed load of injector.len and, if it is not 0,
 * pr_injector_take of a fair share (len / nworkers + 1) under the lock.
 *
 * One step for both halves is sound: a pop that fails found the own deque
 * empty, and an empty deque changes only by its owner's push (a thief's
 * steal on it writes nothing), so the failed pop commutes with every step
 * of the other processes and can be moved next to the injector step.  The
 * load of len only decides whether to lock: reading 0 returns NULL, as the
 * locked take of an empty injector would at the same instant.
 *
 * take_injected keeps the first task, pushes the others on the own deque
 * and notifies.  The injector never holds more than two tasks here (the
 * root and the outside poster's), so one local (b2) holds the rest. */
inline pop_or_inject() {
	atomic {
		if
		:: dq[me].bot > dq[me].top ->
			dq[me].bot--;
			t = dq[me].slot[dq[me].bot];
			dq[me].slot[dq[me].bot] = 0;
			RESET_IF_EMPTY(me);
			take(t)
		:: else ->
			want = len(inj) / NW + 1;
			if
			:: nempty(inj) ->
				inj?t; take(t);
				if
				:: want > 1 && nempty(inj) -> inj?b2
				:: want <= 1 || empty(inj)
				fi
			:: empty(inj)
			fi;
			want = 0
		fi
	};
	if
	:: b2 != NONE ->
		atomic {
			dq[me].slot[dq[me].bot] = b2; dq[me].bot++;
			b2 = NONE; notif++
		};
		notify()
	:: else
	fi
}

#if STEAL2
/* steal from victim vv: PR_STEAL_RETRIES attempts while it aborts.
 * pr_deque_steal in two steps: load top; then (fence) load bottom and CAS
 * top, which fails (ABORT) exactly when another take moved top. */
inline steal_from(vv) {
	do
	:: tries < RETRIES ->
		atomic { st = dq[vv].top };
		atomic {
			if
			:: st >= dq[vv].bot -> tries = RETRIES     /* EMPTY */
			:: else ->
				if
				:: dq[vv].top != st -> tries++            /* ABORT */
				:: else ->
					t = dq[vv].slot[st]; dq[vv].slot[st] = 0;
					dq[vv].top++;
					take(t);
					tries = RETRIES
				fi
			fi;
			st = 0
		}
	:: else -> tries = 0; break
	od
}
#else
/* steal from victim vv: pr_deque_steal as one atomic step (EMPTY or the
 * top element).  An ABORT (the CAS on top lost to another take) is followed
 * by a retry; giving up on a non-empty victim takes PR_STEAL_RETRIES (4)
 * aborts, each another take from the top during the steal.  With two
 * workers only the owner's pop of the last element moves top (one abort at
 * most); the three-worker trees leave at most 2 tasks in a deque (two at
 * most).  So a steal ends with the result of its last attempt, which this
 * step produces.  STEAL2=1 models the two steps and the retries. */
inline steal_from(vv) {
	atomic {
		if
		:: dq[vv].top < dq[vv].bot ->
			t = dq[vv].slot[dq[vv].top]; dq[vv].slot[dq[vv].top] = 0;
			dq[vv].top++;
			RESET_IF_EMPTY(vv);
			take(t)
		:: else
		fi
	}
}
#endif

/* steal: from a random victim, then the others in order. */
inline steal() {
#if NW == 2
	steal_from(1 - me);
#else
	if
	:: v = (me + 1) % NW
	:: v = (me + 2) % NW
	fi;
	steal_from(v);
	if
	:: t == NONE ->
		v = (v == (me + 1) % NW -> (me + 2) % NW : (me + 1) % NW);
		steal_from(v)
	:: else
	fi;
	v = 0;
#endif
	skip
}

inline find_task() {
	pop_or_inject();
	if
	:: t == NONE -> steal()
	:: else
	fi
}

/* ------------------------------------------------------------------------ */
/* Processes                                                                */
/* ------------------------------------------------------------------------ */

proctype worker(byte me)
{
	byte t = NONE;  /* the task found */
	byte b2 = NONE; /* second task of an injector batch */
	byte want, st, tries, v, i, s, F, P, ext, c, round, left;
#if EXEC
	byte ticket, held, later;
	bool cancel;
#endif
#if GROUP
	byte stk[DEPTH];  /* the tasks this worker runs, nested (helping waits) */
	byte sp;          /* frames on stk */
	byte g, wk;
#endif
	bool ok;
	bool idle_set = 1;

loop:
	t = NONE;
	find_task();
	if
	:: t == NONE && !idle_set ->
		/* idle as soon as a search fails: set_idle(true), then the check */
#ifdef BROKEN_IDLE_LATE
		idle_set = 1;
		try_terminate();
		atomic { idle[me] = 1 };
#else
		atomic { idle_set = 1; idle[me] = 1 };
#if !COUNTER
		try_terminate();
#endif
#endif
		skip
	:: else
	fi;
	/* the spin phase: search again, PR_SPIN_ROUNDS times */
	do
	:: t == NONE && round < SPINS -> round++; find_task()
	:: else -> round = 0; break
	od;
	if
	:: t == NONE ->
		/* the sleep protocol: announce, then search once more */
		sleep_prepare();             /* W1, W2 */
#ifndef BROKEN_NO_RECHECK
		find_task();                 /* W3 */
#endif
		if
		:: t != NONE ->
			sleep_cancel()           /* W4 */
		:: t == NONE ->
			if
			:: atomic { shutdown -> skip };
				sleep_cancel();
				goto quit
			:: atomic { !shutdown -> asleep[me] = 1 };
				sleep_wait();        /* W5 */
				goto loop
			fi
		fi
	:: else
	fi;
	if
	:: idle_set -> atomic { idle_set = 0; idle[me] = 0 }
	:: else
	fi;

	/* run_task(me, t) */
#if GROUP
	sp = 0;
runt:
	stk[sp] = t; sp++; t = NONE;
	/* the task body: spawn the children into the task's group ... */
	c = 2 * stk[sp - 1] + 1;
	if
	:: c < NT ->
		do
		:: c < NT && c <= 2 * stk[sp - 1] + 2 ->
			atomic { gpend[stk[sp - 1]]++ };  /* prunner_group_spawn */
			post_local(c);
			c++
		:: else -> c = 0; break
		od;
		/* ... and wait for it: prunner_group_wait */
		g = stk[sp - 1];
		if
		:: atomic { gpend[g] == 1 -> g = 0 }; goto waited  /* every child done */
		:: atomic { gpend[g] != 1 -> skip }
		fi;
#ifdef BROKEN_GROUP_UNIT
		atomic { ok = (gpend[g] == 1); gpend[g]-- };
		gwaiter[g] = me + 1;
#else
		gwaiter[g] = me + 1;                        /* register ... */
		atomic { ok = (gpend[g] == 1); gpend[g]-- };  /* ... then drop the unit */
#endif
		if
		:: ok -> ok = 0; goto arm
		:: else
		fi;
help:
		/* pr_help_until(w, group_done, g): run tasks until the group is
		 * done; sleep in the sleep set when there are none */
		g = stk[sp - 1];
		if
		:: atomic { gwaiter[g] == GROUP_DONE -> skip }; goto arm
		:: atomic { gwaiter[g] != GROUP_DONE -> skip }
		fi;
		find_task();
		do
		:: t == NONE && round < SPINS ->
			round++;
			if
			:: atomic { gwaiter[g] == GROUP_DONE -> round = 0 }; goto arm
			:: atomic { gwaiter[g] != GROUP_DONE -> skip }
			fi;
			find_task()
		:: else -> round = 0; break
		od;
		if
		:: t != NONE -> goto runt   /* run_task, nested */
		:: else
		fi;
		sleep_prepare();
		if
		:: atomic { gwaiter[g] == GROUP_DONE -> skip }; sleep_cancel(); goto help
		:: atomic { gwaiter[g] != GROUP_DONE -> skip }
		fi;
		find_task();
		if
		:: t != NONE -> sleep_cancel(); goto runt
		:: else
		fi;
		atomic { asleep[me] = 1 };
		sleep_wait();
		goto help;
arm:
		/* group_arm after the wait */
		atomic { g = stk[sp - 1]; gpend[g] = 1; gwaiter[g] = 0; g = 0 };
waited:
		skip
	:: else -> c = 0
	fi;
	/* a group child: pr_group_child_done(parent's group) */
	if
	:: stk[sp - 1] > 0 && stk[sp - 1] < NT ->
		g = (stk[sp - 1] - 1) / 2;
		atomic { ok = (gpend[g] == 1); gpend[g]-- };
		if
		:: ok ->
#ifdef WEAK_WAKE
			/* What C11 allows with the orders of the C code (an acq_rel
			 * exchange, then the seq_cst load of in_set_hint): the load
			 * takes effect before the exchange is visible to the waiter.
			 * Only this child writes the word now, so reading it first
			 * and storing DONE later is the exchange, split. */
			atomic { wk = gwaiter[g]; ok = 0 };
			if
			:: wk != 0 -> atomic { ok = in_set[wk - 1] }  /* the hint */
			:: else
			fi;
			atomic { gwaiter[g] = GROUP_DONE; g = 0 };
			if
			:: ok -> atomic { in_set[wk - 1] = 0; ok = 0 }
			:: else
			fi;
#else
			atomic { wk = gwaiter[g]; gwaiter[g] = GROUP_DONE; ok = 0; g = 0 };
			if
			:: wk != 0 -> sleep_wake(wk - 1)
			:: else
			fi;
#endif
			wk = 0
		:: else -> g = 0
		fi
	:: else
	fi;
	/* finished + 1 (release) */
	atomic {
		sp--;
		finished[me]++; live--; completed[stk[sp]] = 1;
		stk[sp] = 0
	};
#if COUNTER
	counter_release();
#endif
	if
	:: sp > 0 -> goto help
	:: else
	fi;
#else /* !GROUP */
#if EXEC
	/* A close in CANCEL mode: tasks not yet started never run. */
	atomic { cancel = (closed == CLOSE_CANCEL) };
#endif
	c = 2 * t + 1;
#if EXEC
	if
	:: cancel -> c = NT
	:: else
	fi;
#endif
	do
	:: c < NT && c <= 2 * t + 2 -> post_local(c); c++
	:: else -> c = 0; break
	od;
	/* finished + 1 (release): after the task's own posts */
	atomic {
		finished[me]++; live--; completed[t] = 1;
#if EXEC
		cancel = 0;
#endif
		t = NONE
	};
#if COUNTER
	counter_release();
#endif
#endif /* GROUP */
	goto loop;
quit:
	nexited++
}

#if OUTSIDE == 1
/* A program thread that posts one task, at any time: before the run, while
 * it runs, while it ends, after it. */
proctype poster()
{
	byte me = NONE;
	byte s, i, F, P, ext, left;
#if EXEC
	byte ticket, held, later;
#endif
	bool ok;
	post_outside(NT)
}
#endif

/* The lost wake-up check, at every state. */
active proctype monitor()
{
end:	atomic { LOST_WAKEUP -> assert(!LOST_WAKEUP) }
}

/* The thread that calls prunner_run (or, with EXEC, prunner_open,
 * prunner_wait_idle and prunner_close), then tears the pool down. */
active proctype main()
{
	byte me = NONE;
	byte s, i, F, P, ext, left;
#if EXEC
	byte ticket, held, later, myticket;
#endif
	bool ok;

	/* the pool exists before the run; its workers start idle */
	atomic {
		i = 0;
		do
		:: i < NW -> idle[i] = 1; run worker(i); i++
		:: else -> i = 0; break
		od;
#if GROUP
		do
		:: i < NT -> gpend[i] = 1; i++
		:: else -> i = 0; break
		od;
#endif
#if OUTSIDE == 1
		run poster();
#endif
		skip
	};

	/* run_start: take the begin token, then open the run */
#if COUNTER
	atomic { pending++ };
#endif
	atomic { ext_posted++; live++ };
	run_state = run_state | ACTIVE;
#if EXEC
	/* prunner_open: the token stays held */
	held_tokens = 1;
#endif

	/* begin (or, with EXEC, a program thread) posts the root */
	post_outside(0);

#if EXEC && WAITIDLE
	/* prunner_wait_idle: take a ticket, look once, wait for quiet_done */
	atomic { quiet_ticket++; myticket = quiet_ticket; quiet_waiters++ };
	atomic { s = run_state };
	if
	:: s & ACTIVE ->
		s = 0;
#if COUNTER
		atomic { F = pending };
		if
		:: atomic { F == held_tokens -> F = 0 }; signal_quiet(myticket)
		:: atomic { F != held_tokens -> F = 0 }
		fi;
#else
		try_terminate();
#endif
		atomic { quiet_done >= myticket -> quiet_waiters-- }
	:: else ->
		atomic { s = 0; quiet_waiters-- }
	fi;
	/* a quiet instant came after the root was posted: its tree is done */
	atomic {
		assert(accepted[0]);
		i = 0;
		do
		:: i < NT -> assert(completed[i]); i++
		:: else -> i = 0; break
		od
	};
#endif
#if EXEC
	/* prunner_close(mode): closed, drop the held token, return it */
	closed = EXEC;
	held_tokens = 0;
#endif

	/* return_token: give the token back, then check */
#if COUNTER
	atomic { ext_finished++; live-- };
	counter_release();
#else
	atomic { ext_finished++; live-- };
	try_terminate();
#endif
#if OUTSIDE == 2
	/* a post from outside the pool, racing with the end of the run */
	post_outside(NT);
#endif

	/* wait_done; then (end) every accepted task ran exactly once and
	 * nothing is left */
	atomic {
		done;
		assert(over && live == 0 && queued == 0);
		do
		:: i < NTASK ->
			assert(accepted[i] == taken[i] && taken[i] == completed[i]);
#if EXEC != CLOSE_CANCEL
			assert(i >= NT || accepted[i]);
#endif
			i++
		:: else -> i = 0; break
		od
	};

	/* pool_teardown: shutdown, wake every sleeper, join */
	shutdown = 1;
	atomic { in_set[0] = 0; in_set[1] = 0;
#if NW > 2
		in_set[2] = 0;
#endif
		skip
	};
	nexited == NW;
	atomic {
		assert(queued == 0 && live == 0);
		do
		:: i < NTASK -> assert(accepted[i] == taken[i] && taken[i] == completed[i]); i++
		:: else -> i = 0; break
		od
	}
}

#if LIVENESS
/* Progress under weak fairness: the run ends (pan -a -f). */
ltl run_ends { <> over }
#endif

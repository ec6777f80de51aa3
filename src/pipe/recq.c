/* Record queues and record memory (see recq.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "shardpipe/recq.h"

void sp_recq_push(sp_recq *q, sp_record *r)
{
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->count++;
    q->bytes += (size_t)r->pk_len + r->len;
}

sp_record *sp_recq_pop(sp_recq *q)
{
    sp_record *r = q->head;
    if (r == NULL)
        return NULL;
    q->head = r->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->count--;
    q->bytes -= (size_t)r->pk_len + r->len;
    r->next = NULL;
    return r;
}

void sp_recq_prepend(sp_recq *q, sp_recq *front)
{
    if (front->head == NULL)
        return;
    front->tail->next = q->head;
    if (q->tail == NULL)
        q->tail = front->tail;
    q->head = front->head;
    q->count += front->count;
    q->bytes += front->bytes;
    memset(front, 0, sizeof *front);
}

/* ---- slabs ---- */

struct sp_recchunk {
    size_t live;     /* allocations not yet freed */
    size_t used;     /* bytes cut so far, this header included */
    max_align_t align_[];
};

/* Each allocation starts with the chunk it came from (NULL: malloc'd). */
typedef struct {
    struct sp_recchunk *chunk;
    max_align_t align_[];
} prefix;

#define ALIGN (sizeof(max_align_t))
#define LARGE (SP_RECSLAB_CHUNK / 8)   /* above this, a malloc of its own */

static size_t round_up(size_t n)
{
    return (n + ALIGN - 1) & ~(ALIGN - 1);
}

static struct sp_recchunk *chunk_get(sp_recslab *s)
{
    struct sp_recchunk *c;
    if (s->nspare > 0) {
        c = s->spare[--s->nspare];
    } else {
        void *m = mmap(NULL, SP_RECSLAB_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        c = m;
        s->chunks++;
    }
    c->live = 0;
    c->used = round_up(sizeof *c);
    return c;
}

/* An empty chunk that is not being cut: kept as a spare or unmapped. */
static void chunk_put(sp_recslab *s, struct sp_recchunk *c)
{
    if (s->nspare < SP_RECSLAB_SPARE) {
        s->spare[s->nspare++] = c;
        return;
    }
    (void)munmap(c, SP_RECSLAB_CHUNK); /* cannot fail for a whole mapping of ours */
    s->chunks--;
}

void *sp_recslab_alloc(sp_recslab *s, size_t size)
{
    size_t need = round_up(sizeof(prefix) + size);
    if (size > LARGE) {
        prefix *p = malloc(need);
        if (p == NULL)
            return NULL;
        p->chunk = NULL;
        return p + 1;
    }
    if (s->cur == NULL || s->cur->used + need > SP_RECSLAB_CHUNK) {
        struct sp_recchunk *old = s->cur;
        struct sp_recchunk *c = chunk_get(s);
        if (c == NULL)
            return NULL;
        s->cur = c;
        if (old && old->live == 0)
            chunk_put(s, old);   /* otherwise its last free returns it */
    }
    prefix *p = (prefix *)((char *)s->cur + s->cur->used);
    s->cur->used += need;
    s->cur->live++;
    p->chunk = s->cur;
    return p + 1;
}

void sp_recslab_free(sp_recslab *s, void *ptr)
{
    if (ptr == NULL)
        return;
    prefix *p = (prefix *)ptr - 1;
    struct sp_recchunk *c = p->chunk;
    if (c == NULL) {
        free(p);
        return;
    }
    if (--c->live > 0)
        return;
    if (c == s->cur)
        c->used = round_up(sizeof *c);   /* empty again: cut from the start */
    else
        chunk_put(s, c);
}

void sp_recslab_release(sp_recslab *s)
{
    while (s->nspare > 0) {
        (void)munmap(s->spare[--s->nspare], SP_RECSLAB_CHUNK);
        s->chunks--;
    }
    if (s->cur && s->cur->live == 0) {
        (void)munmap(s->cur, SP_RECSLAB_CHUNK);
        s->chunks--;
        s->cur = NULL;
    }
}

/* Record queues and record memory (see recq.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "shardpipe/recq.h"

size_t sp_record_bytes(const sp_record *r)
{
    return (size_t)r->pk_len + r->len;
}

size_t sp_record_mem(const sp_record *r)
{
    return sizeof *r + r->pk_len + r->len;
}

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
    struct sp_recchunk *next, *prev;   /* in its class's partial list */
    void *free;                        /* freed slots, linked through their first word */
    uint32_t live, cut, nslots, cls;   /* slots in use, slots cut so far */
};

#define HEAD 48   /* the header, rounded up so slots are 16-byte aligned */

_Static_assert(sizeof(struct sp_recchunk) <= HEAD, "chunk header");

void sp_recslab_init(sp_recslab *s)
{
    memset(s, 0, sizeof *s);
    /* 16..128 in steps of 16, then four classes per doubling. */
    for (uint32_t sz = 16; sz <= 128; sz += 16)
        s->class_size[s->nclass++] = sz;
    for (uint32_t base = 128; base < SP_RECSLAB_MAX; base *= 2)
        for (uint32_t k = 1; k <= 4; k++)
            s->class_size[s->nclass++] = base + base / 4 * k;
    size_t c = 0;
    for (size_t i = 0; i <= SP_RECSLAB_MAX / 16; i++) {
        while (s->class_size[c] < i * 16)
            c++;
        s->class_of[i] = (uint8_t)c;
    }
}

/* A chunk aligned to its size, so a slot finds its chunk by masking. */
static struct sp_recchunk *chunk_get(sp_recslab *s)
{
    if (s->nspare > 0)
        return s->spare[--s->nspare];
    char *m = mmap(NULL, 2 * SP_RECSLAB_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t at = ((uintptr_t)m + SP_RECSLAB_CHUNK - 1) & ~(uintptr_t)(SP_RECSLAB_CHUNK - 1);
    size_t head = at - (uintptr_t)m;
    /* Trimming our own fresh mapping cannot fail. */
    if (head)
        (void)munmap(m, head);
    (void)munmap((char *)at + SP_RECSLAB_CHUNK, SP_RECSLAB_CHUNK - head);
    s->chunks++;
    return (struct sp_recchunk *)at;
}

static void unlink_partial(sp_recslab *s, struct sp_recchunk *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        s->partial[c->cls] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static void link_partial(sp_recslab *s, struct sp_recchunk *c)
{
    c->prev = NULL;
    c->next = s->partial[c->cls];
    if (c->next)
        c->next->prev = c;
    s->partial[c->cls] = c;
}

void *sp_recslab_alloc(sp_recslab *s, size_t size)
{
    if (size > SP_RECSLAB_MAX)
        return malloc(size);
    uint32_t cls = s->class_of[(size + 15) / 16];
    struct sp_recchunk *c = s->partial[cls];
    if (c == NULL) {
        if ((c = chunk_get(s)) == NULL)
            return NULL;
        memset(c, 0, sizeof *c);
        c->cls = cls;
        c->nslots = (uint32_t)((SP_RECSLAB_CHUNK - HEAD) / s->class_size[cls]);
        link_partial(s, c);
    }
    void *slot;
    if (c->free) {
        slot = c->free;
        c->free = *(void **)slot;
    } else {
        slot = (char *)c + HEAD + (size_t)c->cut++ * s->class_size[cls];
    }
    if (++c->live == c->nslots)
        unlink_partial(s, c);   /* full: nothing to hand out */
    return slot;
}

void sp_recslab_free(sp_recslab *s, void *ptr, size_t size)
{
    if (ptr == NULL)
        return;
    if (size > SP_RECSLAB_MAX) {
        free(ptr);
        return;
    }
    struct sp_recchunk *c = (struct sp_recchunk *)((uintptr_t)ptr & ~(uintptr_t)(SP_RECSLAB_CHUNK - 1));
    *(void **)ptr = c->free;
    c->free = ptr;
    if (c->live-- == c->nslots)
        link_partial(s, c);
    if (c->live > 0)
        return;
    unlink_partial(s, c);
    if (s->nspare < SP_RECSLAB_SPARE) {
        s->spare[s->nspare++] = c;
        return;
    }
    (void)munmap(c, SP_RECSLAB_CHUNK); /* cannot fail for a whole chunk of ours */
    s->chunks--;
}

void sp_recslab_release(sp_recslab *s)
{
    while (s->nspare > 0) {
        (void)munmap(s->spare[--s->nspare], SP_RECSLAB_CHUNK);
        s->chunks--;
    }
}

//! A process that does nothing: the client type of protocols without clients.

use std::marker::PhantomData;

use faultline_sim::{Addr, Ctx, Message, Process};

pub struct Idle<M>(PhantomData<M>);

impl<M> Default for Idle<M> {
    fn default() -> Self {
        Idle(PhantomData)
    }
}

impl<M: Message> Process for Idle<M> {
    type Msg = M;
    type Timer = ();
    type Durable = ();
    type Note = ();
    fn on_start(&mut self, _ctx: &mut Ctx<'_, Self>) {}
    fn on_message(&mut self, _ctx: &mut Ctx<'_, Self>, _from: Addr, _msg: M) {}
    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _timer: ()) {}
}
